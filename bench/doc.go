// Package bench holds the benchmarks of qfw as a whole: compile against
// `cue export` of the same files, the packet evaluator, and, with the
// scripts beside it, compile and plan end to end. Package agentbench holds
// those of a firewall qube, qfw against the stock agent. See README.md.
package bench
