// Command genpolicy writes a synthetic qfw policy for benchmarks: N qubes
// with R rules each, and a matching inventory.json; or, with
// -destinations, the policy of [policygen.BigRule]: qubes with one rule of
// that many destinations.
//
// Usage:
//
//	genpolicy -qubes 1000 -rules 20 DIR
//	genpolicy -destinations 100000 DIR
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/qfw-dev/qfw/bench/policygen"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("genpolicy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg policygen.Config
	fs.IntVar(&cfg.Qubes, "qubes", 1000, "number of managed `N`")
	fs.IntVar(&cfg.Rules, "rules", 20, "policy rules per qube, the profile's included")
	fs.IntVar(&cfg.QubesPerFile, "per-file", 100, "qubes per qubes_NNN.cue file")
	dsts := fs.Int("destinations", 0, "write instead qubes with one rule of `N` destinations")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: genpolicy [-qubes N] [-rules R] [-per-file K] DIR\n       genpolicy -destinations N DIR")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	write := func() error { return policygen.Write(fs.Arg(0), cfg) }
	if *dsts != 0 {
		write = func() error { return policygen.WriteBigRule(fs.Arg(0), *dsts) }
	}
	if err := write(); err != nil {
		fmt.Fprintf(stderr, "genpolicy: %v\n", err)
		return 1
	}
	return 0
}
