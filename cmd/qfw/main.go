// Command qfw compiles per-qube firewall policy written in CUE into the
// rules that Qubes OS enforces. See `qfw help` and the README.
package main

import (
	"os"
	"runtime/debug"
)

func main() {
	// Nearly all of qfw's heap is CUE's evaluation of the policy, which
	// stays live until the command ends: collecting it twice as often as
	// it grows would only spend time. Compiling 1,000 qubes takes about
	// 6% less time for about 45% more peak memory, some 330 MB instead of
	// 230 (bench/README.md); a policy of 30 qubes needs a tenth of that.
	// GOGC still rules when set.
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(200)
	}
	os.Exit(Main())
}
