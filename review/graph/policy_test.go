package graph

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/compiler"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/policy"
)

// compileTest compiles the policy text with the inventory beside it, at
// time 1e9.
func compileTest(t *testing.T, text, inventory string) *ir.Program {
	t.Helper()
	dir := t.TempDir()
	for name, text := range map[string]string{"policy.cue": text, "inventory.json": inventory} {
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
	return res.Program
}

// TestPolicy draws a compiled policy, whole or for the qubes named, and
// refuses a name that is no qube of it.
func TestPolicy(t *testing.T) {
	prog := compileTest(t, `package policy

qubes: work: allow: web: {to: "any", tcp: [443]}
qubes: vault: {}
`, `{"qubes": {
	"work": {"ip": "10.137.0.11", "netvm": "sys-firewall"},
	"vault": {"ip": "10.137.0.12"},
	"sys-firewall": {"ip": "10.137.0.6", "netvm": "sys-net", "provides_network": true},
	"sys-net": {"ip": "10.137.0.5", "provides_network": true}
}}`)
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
		g, err := Policy("t", prog, nil, tt.only, 1e9, describe)
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

// TestPolicyLoweredRead draws a qube behind a unikernel firewall from
// the lowering of its list that it is given, rather than lowering the
// list again: given one that the unikernel cannot parse, it reaches
// nothing.
func TestPolicyLoweredRead(t *testing.T) {
	prog := compileTest(t, `package policy

qubes: guest: allow: web: {to: "any", tcp: [443]}
firewalls: "mirage-fw": backend: mirage: version: "0.9.5"
`, `{"qubes": {
	"guest": {"ip": "10.137.0.12", "netvm": "mirage-fw"},
	"mirage-fw": {"ip": "10.137.0.9", "netvm": "sys-net", "provides_network": true},
	"sys-net": {"ip": "10.137.0.5", "provides_network": true}
}}`)
	rel, err := mirage.LookupRelease("0.9.5")
	if err != nil {
		t.Fatal(err)
	}
	guest := &prog.Qubes[0]
	badName := ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: ir.Dst{Host: "under_score.example"}}}
	voided, err := mirage.Lower(guest.IP, []ir.Rule{badName}, rel, 1e9)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		lowered map[string]*mirage.Lowering
		want    string
	}{
		{"none given: lowered here", nil, `qube "guest" behind mirage-fw (mirage)
firewall "mirage-fw" mirage
dest "0.0.0.0/0 (except 10.137.0.9)" 
dest "10.137.0.9" 
qube:guest -> firewall:mirage-fw -> dest:0.0.0.0/0 (except 10.137.0.9): accept tcp 443 [by allow.web]
qube:guest -> firewall:mirage-fw -> dest:10.137.0.9: deny any protocol [by mirage-fw itself, which decides the packets to its own address]
`},
		{"given: read as it is", map[string]*mirage.Lowering{"guest": voided}, `qube "guest" behind mirage-fw (mirage)
firewall "mirage-fw" mirage
dest "10.137.0.9" 
qube:guest -> firewall:mirage-fw -> dest:10.137.0.9: deny any protocol [by mirage-fw itself, which decides the packets to its own address]
`},
	} {
		g, err := Policy("t", prog, tt.lowered, nil, 1e9, describe)
		if err != nil {
			t.Fatal(err)
		}
		if got := text(g); got != tt.want {
			t.Errorf("%s:\n%s\nwant:\n%s", tt.name, got, tt.want)
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
