// Package bench holds the benchmarks of qfw as a whole: compile against
// `cue export` of the same files, the packet evaluator, the nftables
// backend against the agent's ruleset, and, with the scripts beside it,
// compile and plan end to end. See README.md.
package bench
