package deploy

import (
	"time"

	"cuelang.org/go/cue/errors"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/compiler"
	"github.com/qfw-dev/qfw/compiler/par"
	"github.com/qfw-dev/qfw/policy"
)

// BuildOptions say which policy to build and how.
type BuildOptions struct {
	// Args name the policy: a directory, or files, as policy.Config has
	// them.
	Args []string
	// Inventory is the inventory file; empty means inventory.json beside
	// the policy.
	Inventory string
	// Now is the time rule expiry is judged at; it must be set, so that
	// every step after the build judges at the same time.
	Now time.Time
	// Tests says to run the policy's tests: a failed test is an error.
	Tests bool
	// Qrexec says that the lists go to qubesd through qrexec, whose
	// requests carry the calling qube's name, which qfw does not know, in
	// place of dom0's: qubesd's size limit is then checked for the
	// longest name.
	Qrexec bool
}

// Built is a policy compiled and checked, with what the checks lowered on
// the way, for the steps after them to use rather than lower again.
type Built struct {
	*compiler.Result
	// Mirage holds, by qube name, the unikernel's reading of the list of
	// each qube behind a unikernel firewall, at Now.
	Mirage map[string]*mirage.Lowering
	// Now is the time the build judged rule expiry at: whatever asks
	// about the policy judges at the same, as the lists of Mirage do.
	Now time.Time
}

// Build loads, compiles and checks the policy that opts name: the
// compiler's checks, the unikernel firewalls' and qubesd's, then the
// policy's tests if opts ask for them and nothing failed before. It
// returns the warnings and the errors, in no order; the policy is nil if
// there are errors. A policy that does not load has no warnings.
func Build(opts BuildOptions) (b *Built, warnings, errs []errors.Error) {
	p, lerrs := policy.Load(policy.Config{Args: opts.Args, Inventory: opts.Inventory})
	if p == nil {
		return nil, nil, errors.Errors(lerrs)
	}
	res, cerrs := compiler.Compile(p, compiler.Options{Now: opts.Now})
	all := append(errors.Errors(lerrs), errors.Errors(cerrs)...)
	lowered, merrs, mwarnings := prepareMirage(res.Program, opts.Now.Unix())
	all = append(all, merrs...)
	res.Warnings = append(res.Warnings, mwarnings...)
	policy.SortErrors(res.Warnings)
	// The program holds the qubes that compiled; check them even if
	// others did not.
	checks := make([][]errors.Error, len(res.Program.Qubes))
	caller := "dom0"
	if opts.Qrexec {
		caller = ""
	}
	par.Each(len(checks), func(i int) { checks[i] = qubes.CheckFrom(res.Program.Qubes[i], caller) })
	for _, c := range checks {
		all = append(all, c...)
	}
	b = &Built{Result: res, Mirage: lowered, Now: opts.Now}
	if opts.Tests && len(all) == 0 {
		for _, o := range b.RunTests().Outcomes {
			if !o.Passed {
				all = append(all, policy.Errorf(o.Test.Pos, policy.Path("tests", o.Test.Index), "%s", Failure(&o)))
			}
		}
	}
	if len(all) > 0 {
		return nil, res.Warnings, all
	}
	return b, res.Warnings, nil
}
