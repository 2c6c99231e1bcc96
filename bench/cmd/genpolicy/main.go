// Command genpolicy writes a synthetic qfw policy for benchmarks: N qubes
// with R rules each, and a matching inventory.json.
//
// Usage:
//
//	genpolicy -qubes 1000 -rules 20 DIR
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
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: genpolicy [-qubes N] [-rules R] [-per-file K] DIR")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	if err := policygen.Write(fs.Arg(0), cfg); err != nil {
		fmt.Fprintf(stderr, "genpolicy: %v\n", err)
		return 1
	}
	return 0
}
