// Package bench holds the benchmarks of qfw as a whole: `qfw compile`
// against `cue export` of the same files. See README.md.
package bench
