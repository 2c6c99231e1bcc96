package deploy

import (
	"errors"

	cueerrors "cuelang.org/go/cue/errors"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/policy"
)

// prepareMirage readies the lists of the qubes behind a unikernel firewall
// for it, in place: each list is reordered so that dom0's numbering leaves
// no gap before a rule the unikernel must read, and what the firewall's
// release would mis-enforce is returned as errors, what it enforces
// differently from the Linux agent as warnings. It returns, by qube name,
// the lowering each warning and error came from, for the steps that show
// or test what the unikernel reads.
func prepareMirage(prog *ir.Program, now int64) (lowered map[string]*mirage.Lowering, errs, warnings []cueerrors.Error) {
	releases := map[string]mirage.Release{}
	lowered = map[string]*mirage.Lowering{}
	for _, fw := range prog.Firewalls {
		if fw.Backend != ir.Mirage {
			continue
		}
		rel, err := mirage.LookupRelease(fw.MirageVersion)
		if err != nil {
			errs = append(errs, policy.Errorf(fw.Pos, policy.Path("firewalls", fw.Name, "backend", "mirage", "version"), "%v", err))
			continue
		}
		releases[fw.Name] = rel
	}
	for i := range prog.Qubes {
		q := &prog.Qubes[i]
		rel, ok := releases[q.Netvm]
		if !ok {
			continue
		}
		rules, err := mirage.Reorder(q.Rules)
		if err != nil {
			errs = append(errs, mirageErrors(q, err)...)
			continue
		}
		q.Rules = rules
		if !q.IP.Is4() {
			warnings = append(warnings, policy.Warnf(policy.Unikernel, q.Pos, policy.Path("qubes", q.Name),
				"qube %q has no IPv4 address, and the unikernel firewall %s reads rules for IPv4 clients only: it passes none of its traffic", q.Name, q.Netvm))
			continue
		}
		l, err := mirage.Lower(q.IP, q.Rules, rel, now)
		if err != nil {
			errs = append(errs, policy.Errorf(q.Pos, policy.Path("qubes", q.Name), "%v", err))
			continue
		}
		lowered[q.Name] = l
		// A policy rule expanded into several lines gets one message.
		seen := map[string]bool{}
		for j := range l.Diagnostics {
			d := &l.Diagnostics[j]
			e := mirageDiagnostic(q, d)
			if seen[e.Error()] {
				continue
			}
			seen[e.Error()] = true
			if d.Severity == mirage.Error {
				errs = append(errs, e)
			} else {
				warnings = append(warnings, e)
			}
		}
	}
	return lowered, errs, warnings
}

// mirageErrors turns the error of mirage.Reorder into errors at the
// policy's positions.
func mirageErrors(q *ir.Qube, err error) []cueerrors.Error {
	var out []cueerrors.Error
	for _, e := range flatten(err) {
		var d *mirage.Diagnostic
		if errors.As(e, &d) {
			out = append(out, mirageDiagnostic(q, d))
		} else {
			out = append(out, policy.Errorf(q.Pos, policy.Path("qubes", q.Name), "%v", e))
		}
	}
	return out
}

// mirageDiagnostic returns d, about a rule of q, at the path of the policy
// rule it comes from.
func mirageDiagnostic(q *ir.Qube, d *mirage.Diagnostic) cueerrors.Error {
	path := policy.Path("qubes", q.Name)
	pos := q.Pos
	if o := d.Origin; o.Name != "" {
		path = policy.Path("qubes", q.Name, o.Kind.String(), o.Name)
		pos = o.Pos
	}
	if d.Severity == mirage.Warning {
		return policy.WarnfAlso(policy.Unikernel, pos, d.Also, path, "behind the unikernel firewall %s: %s", q.Netvm, d.Message)
	}
	return policy.ErrorfAlso(pos, d.Also, path, "behind the unikernel firewall %s: %s", q.Netvm, d.Message)
}
