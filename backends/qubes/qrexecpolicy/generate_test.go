package qrexecpolicy

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var fullGrants = Grants{
	Mgmt:       "mgmt",
	Properties: []string{"netvm", "ip", "ip6", "label", "provides_network"},
	Manage:     true,
	Tag:        "qfw-managed",
	Tagged:     []string{"work", "old", "banking", "work"},
	Firewalls: []Firewall{
		{Name: "mirage-fw", Class: "StandaloneVM", Properties: []string{"label", "kernel", "netvm"}, Features: []string{"qubes-firewall"}},
		{Name: "mirage-b", Class: "StandaloneVM", Properties: []string{"kernel"}, Features: []string{"skip-update"}},
	},
}

// Generate's output is exact and in a fixed order whatever order it is
// given things in; with QFW_UPDATE=1 the files in testdata are rewritten.
func TestGenerate(t *testing.T) {
	readOnly := fullGrants
	readOnly.Manage, readOnly.Tagged, readOnly.Firewalls = false, nil, nil
	for name, g := range map[string]Grants{"full.policy": fullGrants, "read-only.policy": readOnly} {
		f, err := Generate(g)
		if err != nil {
			t.Fatal(err)
		}
		got := f.Format()
		path := filepath.Join("testdata", name)
		if os.Getenv("QFW_UPDATE") != "" {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s:\n%s\nwant:\n%s", name, got, want)
		}
		// dom0 reads back the rules written, in order.
		p, err := Parse(name, got)
		if err != nil {
			t.Fatal(err)
		}
		back := make([]string, len(p.Rules))
		for i, r := range p.Rules {
			back[i] = r.String()
		}
		var rules []string
		for _, r := range f.Rules() {
			rules = append(rules, r.String())
		}
		if !slices.Equal(back, rules) {
			t.Errorf("%s reads back as\n%q\nwant\n%q", name, back, rules)
		}
	}
}

func TestGenerateErrors(t *testing.T) {
	for _, tc := range []struct {
		change func(*Grants)
		want   string
	}{
		{func(g *Grants) { g.Mgmt = "dom0" }, `management qube "dom0": not a qube name`},
		{func(g *Grants) { g.Mgmt = "@anyvm" }, `management qube "@anyvm": not a qube name`},
		{func(g *Grants) { g.Mgmt = "" }, `management qube "": not a qube name`},
		{func(g *Grants) { g.Tag = "a+b" }, `tag "a+b": a tag is ASCII letters, digits, "-" and "_"`},
		{func(g *Grants) { g.Tagged = []string{"@tag:x"} }, `qube "@tag:x": not a qube name`},
		{func(g *Grants) { g.Firewalls = []Firewall{{Name: "fw", Class: "Standalone VM"}} }, `firewall qube fw: class "Standalone VM"`},
		{func(g *Grants) {
			g.Firewalls = []Firewall{{Name: "fw", Class: "StandaloneVM", Features: []string{"a b"}}}
		}, `firewall qube fw: property or feature "a b"`},
		{func(g *Grants) { g.Properties = []string{""} }, `property ""`},
	} {
		g := fullGrants
		tc.change(&g)
		if _, err := Generate(g); err == nil || err.Error() != tc.want {
			t.Errorf("Generate: %v; want %s", err, tc.want)
		}
	}
}
