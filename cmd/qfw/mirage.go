package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

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
			warnings = append(warnings, policy.Errorf(q.Pos, policy.Path("qubes", q.Name),
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
	return policy.ErrorfAlso(pos, d.Also, path, "behind the unikernel firewall %s: %s", q.Netvm, d.Message)
}

// mirageFiles returns, for each unikernel firewall qube (or the one only
// names), what its release makes of each client's list, as lowered holds
// it by qube name: the release's notes, the QubesDB entries it reads, and
// how it enforces each rule.
func mirageFiles(prog *ir.Program, only string, lowered map[string]*mirage.Lowering) ([]outFile, error) {
	fws, err := backendFirewalls(prog, only, ir.Mirage, fmt.Sprintf("{mirage: {version: %q}}", mirage.Latest))
	if err != nil {
		return nil, err
	}
	byName := make(map[string]*ir.Qube, len(prog.Qubes))
	for i := range prog.Qubes {
		byName[prog.Qubes[i].Name] = &prog.Qubes[i]
	}
	var out []outFile
	for _, fw := range fws {
		// The release was checked by prepareMirage.
		rel, err := mirage.LookupRelease(fw.MirageVersion)
		if err != nil {
			return nil, err
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "# qubes-mirage-firewall %s:\n", rel.Version)
		for _, n := range rel.Notes() {
			fmt.Fprintf(&b, "#   %s\n", n)
		}
		clients := []any{}
		for _, name := range fw.Clients {
			q := byName[name]
			if !q.IP.Is4() {
				fmt.Fprintf(&b, "\n# %s has no IPv4 address: the unikernel reads no rules for it and passes none of its traffic\n", q.Name)
				continue
			}
			l := lowered[q.Name]
			if l == nil {
				return nil, fmt.Errorf("internal error: the list of %s was not lowered for %s", q.Name, fw.Name)
			}
			fmt.Fprintf(&b, "\n# %s %s\n", q.Name, q.IP)
			entries := make([]any, len(l.Entries))
			for i, e := range l.Entries {
				b.WriteString(e.String() + "\n")
				entries[i] = map[string]string{"path": e.Key, "value": e.Value}
			}
			rules := make([]any, len(l.Rules))
			for i, rep := range l.Rules {
				r := q.Rules[rep.Index]
				fmt.Fprintf(&b, "#   %d. %s: %s\n", rep.Index+1, ruleLabel(r), rep.How)
				rules[i] = map[string]any{
					"index": rep.Index, "rule": r.Origin.String(), "line": mirage.FormatRule(r),
					"key": rep.Key, "status": rep.Status.String(), "how": rep.How,
				}
			}
			clients = append(clients, map[string]any{"qube": q.Name, "address": q.IP.String(), "entries": entries, "rules": rules})
		}
		out = append(out, outFile{
			name: fw.Name + ".mirage", header: fw.Name + " (mirage " + rel.Version + ")", text: b.Bytes(),
			json: map[string]any{"name": fw.Name, "backend": "mirage", "release": rel.Version, "notes": rel.Notes(), "clients": clients},
		})
	}
	return out, nil
}

// ruleLabel names a compiled rule: its policy rule and its line in the
// unikernel's dialect.
func ruleLabel(r ir.Rule) string {
	line := mirage.FormatRule(r)
	if r.Origin.Name == "" {
		return line
	}
	return r.Origin.String() + " (" + strings.TrimPrefix(line, "action=") + ")"
}
