package graph

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/compiler"
	"github.com/qfw-dev/qfw/policy"
)

// TestPolicy draws a compiled policy, whole or for the qubes named, and
// refuses a name that is no qube of it.
func TestPolicy(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"policy.cue": `package policy

qubes: work: allow: web: {to: "any", tcp: [443]}
qubes: vault: {}
`,
		"inventory.json": `{"qubes": {
	"work": {"ip": "10.137.0.11", "netvm": "sys-firewall"},
	"vault": {"ip": "10.137.0.12"},
	"sys-firewall": {"ip": "10.137.0.6", "netvm": "sys-net", "provides_network": true},
	"sys-net": {"ip": "10.137.0.5", "provides_network": true}
}}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, errs := policy.Load(policy.Config{Args: []string{dir}})
	if errs != nil {
		t.Fatal(errs)
	}
	res, errs := compiler.Compile(p, compiler.Options{Now: time.Unix(1e9, 0)})
	if errs != nil {
		t.Fatal(errs)
	}
	for _, tt := range []struct {
		only []string
		// want is the graph's nodes and edges, as text gives them, or
		// the error.
		want string
	}{
		{nil, `qube "vault" no netvm: reaches nothing
qube "work" behind sys-firewall (qubes)
firewall "sys-firewall" qubes
dest "0.0.0.0/0" 
qube:work -> firewall:sys-firewall -> dest:0.0.0.0/0: accept tcp 443 [by allow.web]
`},
		{[]string{"work"}, `qube "work" behind sys-firewall (qubes)
firewall "sys-firewall" qubes
dest "0.0.0.0/0" 
qube:work -> firewall:sys-firewall -> dest:0.0.0.0/0: accept tcp 443 [by allow.web]
`},
		{[]string{"work", "nobody"}, `--qube "nobody": no such qube in the policy`},
	} {
		g, err := Policy("t", res.Program, tt.only, 1e9, describe)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = text(g)
		}
		if got != tt.want {
			t.Errorf("Policy, only %q:\n%s\nwant:\n%s", tt.only, got, tt.want)
		}
	}
}

func TestTitle(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "Who can reach what: the policy in the working directory"},
		{[]string{"policy"}, "Who can reach what: the policy policy"},
		{[]string{"a.cue", "b.cue", "c.cue"}, "Who can reach what: the policy a.cue and 2 more files"},
	} {
		if got := Title(tt.args); got != tt.want {
			t.Errorf("Title(%q) = %q; want %q", tt.args, got, tt.want)
		}
	}
}
