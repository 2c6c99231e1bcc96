package main

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/deploy"
)

// mirageFiles returns, for each unikernel firewall qube (or the one only
// names), what its release makes of each client's list, as lowered holds
// it by qube name: the release's notes, the QubesDB entries it reads, and
// how it enforces each rule.
func mirageFiles(prog *ir.Program, only string, lowered map[string]*mirage.Lowering) ([]outFile, error) {
	fws, err := deploy.BackendFirewalls(prog, only, ir.Mirage, fmt.Sprintf("{mirage: {version: %q}}", mirage.Latest))
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
