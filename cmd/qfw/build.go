package main

import (
	"time"

	"cuelang.org/go/cue/errors"
	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/compiler"
	"github.com/qfw-dev/qfw/compiler/par"
	"github.com/qfw-dev/qfw/policy"
	"github.com/qfw-dev/qfw/policytest"
)

// policyFlags are the flags of every command that reads a policy.
type policyFlags struct {
	inventory string
	now       timeValue
	// skipTests is set by --skip-tests, for the commands that run the
	// policy's tests on the way.
	skipTests bool
	// qrexec says that the lists go to qubesd through qrexec, whose
	// requests carry the calling qube's name, which qfw does not know, in
	// place of dom0's: qubesd's size limit is then checked for the
	// longest name.
	qrexec bool
}

func (f *policyFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.inventory, "inventory", "", "read the inventory from `FILE` (default: inventory.json beside the policy)")
	cmd.Flags().Var(&f.now, "now", "judge rule expiry at `TIME` (RFC 3339 or UNIX seconds) instead of the current time")
}

// registerSkipTests adds --skip-tests, for commands that run the tests.
func (f *policyFlags) registerSkipTests(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.skipTests, "skip-tests", false, "do not run the policy's tests")
}

// built is a policy compiled and checked, with what the checks lowered on
// the way, for the steps after them to use rather than lower again.
type built struct {
	*compiler.Result
	// mirage holds, by qube name, the unikernel's reading of the list of
	// each qube behind a unikernel firewall.
	mirage map[string]*mirage.Lowering
}

// build loads, compiles and checks the policy that args name, judging
// expiry at f's time, which it sets to the current time if the flag was
// not given, so that every later step uses the same. With withTests, it
// runs the policy's tests too, unless f says to skip them, and a failed
// test is an error. It prints warnings and errors to the command's stderr;
// on errors it returns errPrinted.
func build(cmd *cobra.Command, args []string, f *policyFlags, withTests bool) (*built, error) {
	stderr := cmd.ErrOrStderr()
	p, errs := policy.Load(policy.Config{Args: args, Inventory: f.inventory})
	if p == nil {
		printDiagnostics(stderr, "", errors.Errors(errs))
		return nil, errPrinted
	}
	if f.now.t.IsZero() {
		f.now.t = time.Now()
	}
	res, cerrs := compiler.Compile(p, compiler.Options{Now: f.now.t})
	all := append(errors.Errors(errs), errors.Errors(cerrs)...)
	lowered, merrs, mwarnings := prepareMirage(res.Program, f.now.t.Unix())
	all = append(all, merrs...)
	res.Warnings = append(res.Warnings, mwarnings...)
	policy.SortErrors(res.Warnings)
	// The program holds the qubes that compiled; check them even if
	// others did not.
	checks := make([][]errors.Error, len(res.Program.Qubes))
	caller := "dom0"
	if f.qrexec {
		caller = ""
	}
	par.Each(len(checks), func(i int) { checks[i] = qubes.CheckFrom(res.Program.Qubes[i], caller) })
	for _, c := range checks {
		all = append(all, c...)
	}
	if withTests && !f.skipTests && len(all) == 0 {
		for _, o := range policytest.RunLowered(res.Program, f.now.t.Unix(), lowered) {
			if !o.Passed {
				all = append(all, policy.Errorf(o.Test.Pos, policy.Path("tests", o.Test.Index), "%s", failure(&o)))
			}
		}
	}
	printDiagnostics(stderr, "warning: ", res.Warnings)
	if len(all) > 0 {
		printDiagnostics(stderr, "", all)
		return nil, errPrinted
	}
	return &built{Result: res, mirage: lowered}, nil
}

// timeValue is a flag holding a time, written as RFC 3339 or UNIX seconds.
type timeValue struct{ t time.Time }

func (v *timeValue) String() string {
	if v.t.IsZero() {
		return ""
	}
	return v.t.UTC().Format(time.RFC3339)
}

func (v *timeValue) Set(s string) error {
	t, err := compiler.ParseTime(s)
	if err != nil {
		return errors.New("want RFC 3339 (2027-01-31T18:00:00Z) or UNIX seconds")
	}
	v.t = t
	return nil
}

func (v *timeValue) Type() string { return "TIME" }
