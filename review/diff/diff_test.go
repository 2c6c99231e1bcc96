package diff

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/compiler"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/policy"
	"github.com/qfw-dev/qfw/review/source"
)

const inventory = `{"qubes": {
	"work": {"ip": "10.137.0.11", "netvm": "sys-firewall"},
	"sys-firewall": {"ip": "10.137.0.6", "netvm": "sys-net", "provides_network": true},
	"sys-net": {"ip": "10.137.0.5", "provides_network": true}
}}`

// compile writes policy beside the inventory into a directory and
// compiles it, returning the directory, opened as a side, and the program.
func compile(t *testing.T, which, text string) (*source.Side, *ir.Program) {
	t.Helper()
	return compileWith(t, which, text, inventory)
}

// policyDir writes policy beside the inventory inv into a directory.
func policyDir(t *testing.T, policy, inv string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range map[string]string{"policy.cue": policy, "inventory.json": inv} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// compileWith is compile with the inventory inv.
func compileWith(t *testing.T, which, text, inv string) (*source.Side, *ir.Program) {
	t.Helper()
	dir := policyDir(t, text, inv)
	p, errs := policy.Load(policy.Config{Args: []string{dir}})
	if errs != nil {
		t.Fatalf("%s: %v", which, errs)
	}
	res, errs := compiler.Compile(p, compiler.Options{Now: time.Unix(1e9, 0)})
	if errs != nil {
		t.Fatalf("%s: %v", which, errs)
	}
	s, err := source.Open(dir, which)
	if err != nil {
		t.Fatal(err)
	}
	return s, res.Program
}

// TestCompare compares policies: a rewriting that keeps every packet's
// fate is no change; a narrowing is one line, with what decides its
// packets on each side.
func TestCompare(t *testing.T) {
	const web = "package policy\nqubes: work: allow: web: {to: \"any\", tcp: [80, 443]}\n"
	for _, tt := range []struct {
		name, base, head string
		// want is each line of work, + widened or - narrowed, with the
		// reasons on each side: "± LINE | BASE | HEAD".
		want []string
	}{
		{"same", web, web, nil},
		{"rewritten", web, "package policy\nqubes: work: {\n\tallow: https: {to: [\"0.0.0.0/1\", \"128.0.0.0/1\"], tcp: [443]}\n\tallow: http: {to: \"any\", tcp: [80]}\n}\n", nil},
		{"narrowed", web, "package policy\nqubes: work: allow: web: {to: \"any\", tcp: [443]}\n", []string{
			// work has no IPv6 address: it reaches IPv4 only.
			"- tcp 80 to 0.0.0.0/0 | accept by allow.web (BASE/policy.cue:2:21) | drop: no rule matches",
		}},
		{"widened", "package policy\nqubes: work: allow: web: {to: \"any\", tcp: [443]}\n", web, []string{
			// work has no IPv6 address: it reaches IPv4 only.
			"+ tcp 80 to 0.0.0.0/0 | drop: no rule matches | accept by allow.web (HEAD/policy.cue:2:21)",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bs, bp := compile(t, "BASE", tt.base)
			hs, hp := compile(t, "HEAD", tt.head)
			r := (&Policies{Sides: [2]*source.Side{bs, hs}, Programs: [2]*ir.Program{bp, hp}, Now: 1e9}).Compare()
			var got []string
			for _, q := range r.Qubes {
				for i := range q.Lines {
					l := &q.Lines[i]
					mark := "-"
					if l.Widened {
						mark = "+"
					}
					line := strings.Join([]string{mark + " " + l.String(), r.reason(q, l, 0), r.reason(q, l, 1)}, " | ")
					got = append(got, strings.NewReplacer(bs.Dir, "BASE", hs.Dir, "HEAD").Replace(line))
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("lines\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if r.Changed() != (tt.want != nil) {
				t.Errorf("Changed() = %v; want %v", r.Changed(), tt.want != nil)
			}
			if j := r.JSON(); j.Changed != r.Changed() || j.Summary.Widened+j.Summary.Narrowed != len(got) {
				t.Errorf("JSON says changed %v, %+v; want %v, %d lines", j.Changed, j.Summary, r.Changed(), len(got))
			}
		})
	}
}

// TestCompareLoweredRead compares the lists of a qube behind a unikernel
// firewall as the build lowered them, rather than lowering them again:
// the same policy on both sides, whose head lowering the unikernel cannot
// parse, loses what the base reaches.
func TestCompareLoweredRead(t *testing.T) {
	const text = "package policy\nqubes: guest: allow: web: {to: \"any\", tcp: [443]}\nfirewalls: \"mirage-fw\": backend: mirage: version: \"0.9.5\"\n"
	const inv = `{"qubes": {
	"guest": {"ip": "10.137.0.12", "netvm": "mirage-fw"},
	"mirage-fw": {"ip": "10.137.0.9", "netvm": "sys-net", "provides_network": true},
	"sys-net": {"ip": "10.137.0.5", "provides_network": true}
}}`
	bs, bp := compileWith(t, "BASE", text, inv)
	hs, hp := compileWith(t, "HEAD", text, inv)
	rel, err := mirage.LookupRelease("0.9.5")
	if err != nil {
		t.Fatal(err)
	}
	badName := ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: ir.Dst{Host: "under_score.example"}}}
	voided, err := mirage.Lower(hp.Qubes[0].IP, []ir.Rule{badName}, rel, 1e9)
	if err != nil {
		t.Fatal(err)
	}
	p := &Policies{
		Sides:    [2]*source.Side{bs, hs},
		Programs: [2]*ir.Program{bp, hp},
		Lowered:  [2]map[string]*mirage.Lowering{nil, {"guest": voided}},
		Now:      1e9,
	}
	r := p.Compare()
	var got []string
	for _, q := range r.Qubes {
		for i := range q.Lines {
			got = append(got, q.Name+": "+q.Lines[i].String())
		}
	}
	if want := []string{"guest: tcp 443 to 0.0.0.0/0 (except 10.137.0.9)"}; !slices.Equal(got, want) || r.Qubes[0].Lines[0].Widened {
		t.Errorf("lines %q; want %q, narrowed", got, want)
	}
}
