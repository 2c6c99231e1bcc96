package main

import (
	"time"

	"cuelang.org/go/cue/errors"
	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/compiler"
	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/policy/diagnostic"
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

// build builds the policy that args name with deploy.Build, judging
// expiry at f's time, which it sets to the current time if the flag was
// not given, so that every later step uses the same. With withTests, it
// runs the policy's tests too, unless f says to skip them. It prints
// warnings and errors to the command's stderr; on errors it returns
// errPrinted.
func build(cmd *cobra.Command, args []string, f *policyFlags, withTests bool) (*deploy.Built, error) {
	b, r := buildReport(args, f, withTests)
	r.WriteText(cmd.ErrOrStderr(), false)
	if len(r.Errors) > 0 {
		return nil, errPrinted
	}
	return b, nil
}

// at returns the time rule expiry is judged at: --now's, or else the
// current time, which it keeps, so that every later step judges at the
// same.
func (f *policyFlags) at() time.Time {
	if f.now.t.IsZero() {
		f.now.t = time.Now()
	}
	return f.now.t
}

// buildReport is build, with the diagnostics returned rather than
// printed; the policy is nil if there are errors.
func buildReport(args []string, f *policyFlags, withTests bool) (*deploy.Built, *diagnostic.Report) {
	b, warnings, errs := deploy.Build(deploy.BuildOptions{
		Args: args, Inventory: f.inventory, Now: f.at(),
		Tests: withTests && !f.skipTests, Qrexec: f.qrexec,
	})
	r := &diagnostic.Report{Warnings: warnings, Errors: errs}
	if b != nil {
		r.Acknowledged = b.Acknowledged
	}
	return b, r
}

// printReport prints r in format: as text to stderr, as GitHub Actions
// workflow commands or JSON to stdout. With strict, a warning fails the
// run as an error does. It returns errPrinted if the run fails.
func printReport(cmd *cobra.Command, r *diagnostic.Report, format format, strict bool) error {
	switch format {
	case formatGitHub:
		r.WriteGitHub(cmd.OutOrStdout(), strict)
	case formatJSON:
		if err := r.WriteJSON(cmd.OutOrStdout(), strict); err != nil {
			return err
		}
	default:
		r.WriteText(cmd.ErrOrStderr(), strict)
	}
	if !r.Passed(strict) {
		return errPrinted
	}
	return nil
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

// Time is the time the --now flag holds, which flagChecks bounds.
func (v *timeValue) Time() time.Time { return v.t }
