// Command qfw compiles per-qube firewall policy written in CUE into the
// rules that Qubes OS enforces. See `qfw help` and the README.
package main

import (
	"os"
	"runtime/debug"
)

func main() {
	// Nearly all of qfw's heap is CUE's evaluation of the policy, which
	// stays live until the policy is decoded: collecting it as often as it
	// grows, Go's default, spends time. Letting the heap grow 150% beyond
	// what is live, not 100%, takes back most of that time for some of the
	// memory: on 1,000 qubes, within a few percent of 200%'s time, for
	// about a fifth more peak memory than cue export's instead of about
	// two fifths (bench/README.md). Being relative to the live heap, it
	// holds for policies of any size, as a fixed memory limit would not.
	// GOGC still rules when set.
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(150)
	}
	os.Exit(Main())
}
