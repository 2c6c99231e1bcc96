package diff

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/review/source"
)

// A change for the writers: work loses ssh over IPv6 with extension
// headers as it moves to qfw's nftables backend, new is added and gains
// mail, old is removed, and names compares a name pinned on neither side.
const (
	basePolicy = `package policy

qubes: work: {
	deny: ssh: {to: "any", tcp: [22], priority: 10}
	allow: rest: to: "any"
}
qubes: old: allow: web: {to: "any", tcp: [443]}
qubes: names: allow: git: {to: "github.com", tcp: [22]}
firewalls: "sys-nft": backend: "nftables"
`
	baseInventory = `{"qubes": {
	"work": {"ip": "10.137.0.11", "ip6": "fd09:24ef:4179::a89:b", "netvm": "sys-firewall"},
	"old": {"ip": "10.137.0.12", "netvm": "sys-firewall"},
	"names": {"ip": "10.137.0.14", "netvm": "sys-firewall"},
	"sys-firewall": {"ip": "10.137.0.6", "netvm": "sys-net", "provides_network": true},
	"sys-nft": {"ip": "10.137.0.7", "netvm": "sys-net", "provides_network": true},
	"sys-net": {"ip": "10.137.0.5", "provides_network": true}
}}`
	headPolicy = `package policy

qubes: work: {
	deny: ssh: {to: "any", tcp: [22], priority: 10}
	allow: rest: to: "any"
}
qubes: new: allow: mail: {to: "192.0.2.25", tcp: [25, 465]}
qubes: names: allow: git: {to: "github.com", tcp: [22, 2222]}
firewalls: "sys-nft": backend: "nftables"
`
	headInventory = `{"qubes": {
	"work": {"ip": "10.137.0.11", "ip6": "fd09:24ef:4179::a89:b", "netvm": "sys-nft"},
	"new": {"ip": "10.137.0.13", "netvm": "sys-firewall"},
	"names": {"ip": "10.137.0.14", "netvm": "sys-firewall"},
	"sys-firewall": {"ip": "10.137.0.6", "netvm": "sys-net", "provides_network": true},
	"sys-nft": {"ip": "10.137.0.7", "netvm": "sys-net", "provides_network": true},
	"sys-net": {"ip": "10.137.0.5", "provides_network": true}
}}`
	webPolicy = "package policy\nqubes: work: allow: web: {to: \"any\", tcp: [80, 443]}\n"
)

// report compares the two policies, each beside its inventory, with the
// sides' directories named BASE and HEAD.
func report(t *testing.T, base, baseInv, head, headInv string) *Report {
	t.Helper()
	bs, bp := compileWith(t, "BASE", base, baseInv)
	hs, hp := compileWith(t, "HEAD", head, headInv)
	bs.Arg, hs.Arg = "BASE", "HEAD"
	return (&Policies{Sides: [2]*source.Side{bs, hs}, Programs: [2]*ir.Program{bp, hp}, Now: 1e9}).Compare()
}

// written returns what write writes for r, its sides' directories
// replaced by their names.
func written(t *testing.T, r *Report, write func(*Report, *bytes.Buffer) error) string {
	t.Helper()
	var b bytes.Buffer
	if err := write(r, &b); err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer(r.Sides[0].Dir, "BASE", r.Sides[1].Dir, "HEAD").Replace(b.String())
}

// TestWrite checks the text, markdown and JSON forms of reports, byte for
// byte.
func TestWrite(t *testing.T) {
	for _, tt := range []struct {
		name                         string
		base, baseInv, head, headInv string
		text, markdown, json         string
	}{{
		name: "same", base: webPolicy, baseInv: inventory, head: webPolicy, headInv: inventory,
		text: `BASE → HEAD

no change in reachability.
`,
		markdown: "### qfw diff: `BASE` → `HEAD`\n\nNo change in reachability.\n",
		json: `{
  "format_version": "1.0",
  "base": "BASE",
  "head": "HEAD",
  "changed": false,
  "summary": {
    "widened": 0,
    "narrowed": 0,
    "added": 0,
    "removed": 0,
    "moved": 0
  },
  "qubes": []
}
`,
	}, {
		name: "narrowed", base: webPolicy, baseInv: inventory,
		head: "package policy\nqubes: work: allow: web: {to: \"any\", tcp: [443]}\n", headInv: inventory,
		text: `BASE → HEAD

narrowed access, no longer reachable:
  work, behind sys-firewall (qubes):
    - tcp 80 to 0.0.0.0/0
        now: drop: no rule matches
        was: accept by allow.web (BASE/policy.cue:2:21)

no widening and 1 narrowing of access, in 1 qube.
`,
		markdown: "### qfw diff: `BASE` → `HEAD`\n\nNo widening and 1 narrowing of access, in 1 qube.\n" + `
#### Narrowed access (no longer reachable)

| qube | packets | now | was |
|---|---|---|---|
| work | tcp 80 to 0.0.0.0/0 | drop: no rule matches | accept by allow.web (BASE/policy.cue:2:21) |
`,
	}, {
		name: "qubes", base: basePolicy, baseInv: baseInventory, head: headPolicy, headInv: headInventory,
		text: `BASE → HEAD

widened access, now reachable:
  names, behind sys-firewall (qubes):
    + tcp 2222 to github.com (IPv4)
        now: accept by allow.git (HEAD/policy.cue:8:22)
        was: drop: no rule matches
  new, behind sys-firewall (qubes):
    + tcp 25, 465 to 192.0.2.25
        now: accept by allow.mail (HEAD/policy.cue:7:20)
        was: drop: the base policy does not name the qube

narrowed access, no longer reachable:
  work, behind sys-nft (nftables):
    - tcp 22 with IPv6 extension headers to ::/0
        now: drop by deny.ssh (HEAD/policy.cue:4:8)
        was: accept by allow.rest (BASE/policy.cue:5:9)

qubes:
  new: added, behind sys-firewall (qubes)
  old: removed from the policy: it keeps the list it has until qfw apply --release
  work: moved from sys-firewall (qubes) to sys-nft (nftables)

notes:
  names: the resolve section pins no addresses for github.com: rules to it are compared as rules to a name, met by rules to the same name and to any destination only

2 widenings and 1 narrowing of access, in 3 qubes; qubes: 1 added, 1 removed, 1 moved.
`,
		markdown: "### qfw diff: `BASE` → `HEAD`\n\n2 widenings and 1 narrowing of access, in 3 qubes; qubes: 1 added, 1 removed, 1 moved.\n" + `
#### Widened access (now reachable)

| qube | packets | now | was |
|---|---|---|---|
| names | tcp 2222 to github.com (IPv4) | accept by allow.git (HEAD/policy.cue:8:22) | drop: no rule matches |
| new | tcp 25, 465 to 192.0.2.25 | accept by allow.mail (HEAD/policy.cue:7:20) | drop: the base policy does not name the qube |

#### Narrowed access (no longer reachable)

| qube | packets | now | was |
|---|---|---|---|
| work | tcp 22 with IPv6 extension headers to ::/0 | drop by deny.ssh (HEAD/policy.cue:4:8) | accept by allow.rest (BASE/policy.cue:5:9) |

#### Qubes

- **new**: added, behind sys-firewall (qubes)
- **old**: removed from the policy: it keeps the list it has until qfw apply --release
- **work**: moved from sys-firewall (qubes) to sys-nft (nftables)

#### Notes

- **names**: the resolve section pins no addresses for github.com: rules to it are compared as rules to a name, met by rules to the same name and to any destination only
`,
	}} {
		t.Run(tt.name, func(t *testing.T) {
			r := report(t, tt.base, tt.baseInv, tt.head, tt.headInv)
			for _, w := range []struct {
				form  string
				write func(*Report, *bytes.Buffer) error
				want  string
			}{
				{"text", func(r *Report, b *bytes.Buffer) error { return r.WriteText(b) }, tt.text},
				{"markdown", func(r *Report, b *bytes.Buffer) error { return r.WriteMarkdown(b) }, tt.markdown},
				{"json", func(r *Report, b *bytes.Buffer) error { return r.WriteJSON(b) }, tt.json},
			} {
				if w.want == "" {
					continue
				}
				if got := written(t, r, w.write); got != w.want {
					t.Errorf("%s:\n%s\nwant:\n%s", w.form, got, w.want)
				}
			}
		})
	}
}

// TestGraph checks the page of a change: the qubes that change, each
// behind its firewall qube on the head side, if it has one, and an edge
// for each line gained or lost, with what decides it on each side.
func TestGraph(t *testing.T) {
	r := report(t, basePolicy, baseInventory, headPolicy, headInventory)
	g := r.Graph()
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", g.Title)
	for _, n := range g.Nodes {
		fmt.Fprintf(&b, "%s %q [%s]\n", n.Kind, n.Name, n.Detail)
	}
	for _, e := range g.Edges {
		fmt.Fprintf(&b, "%s -> %s -> %s: %s %s [%s]\n", e.From, e.Via, e.To, e.Verdict, e.Services, e.Why)
	}
	got := strings.NewReplacer(r.Sides[0].Dir, "BASE", r.Sides[1].Dir, "HEAD").Replace(b.String())
	const want = `What BASE → HEAD changes about who can reach what
qube "names" [behind sys-firewall (qubes)]
qube "new" [added, behind sys-firewall (qubes)]
qube "old" [removed, keeps its list until qfw apply --release, behind sys-firewall (qubes)]
qube "work" [moved from sys-firewall (qubes), behind sys-nft (nftables)]
firewall "sys-firewall" [qubes]
firewall "sys-nft" [nftables]
dest "github.com (IPv4)" []
dest "192.0.2.25" []
dest "::/0" []
qube:names -> firewall:sys-firewall -> dest:github.com (IPv4): gained tcp 2222 [now accept by allow.git (HEAD/policy.cue:8:22); was drop: no rule matches]
qube:new -> firewall:sys-firewall -> dest:192.0.2.25: gained tcp 25, 465 [now accept by allow.mail (HEAD/policy.cue:7:20); was drop: the base policy does not name the qube]
qube:work -> firewall:sys-nft -> dest:::/0: lost tcp 22 with IPv6 extension headers [now drop by deny.ssh (HEAD/policy.cue:4:8); was accept by allow.rest (BASE/policy.cue:5:9)]
`
	if got != want {
		t.Errorf("graph:\n%s\nwant:\n%s", got, want)
	}
	var page bytes.Buffer
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	var direct bytes.Buffer
	if err := g.WriteHTML(&direct); err != nil {
		t.Fatal(err)
	}
	if page.String() != direct.String() {
		t.Error("WriteHTML writes another page than the graph's")
	}
}

// TestLoad reads and builds both sides: a policy with errors has them in
// its side's diagnostics and no program; a side that does not read is an
// error.
func TestLoad(t *testing.T) {
	good := policyDir(t, webPolicy, inventory)
	// A redundant rule is a warning; bad ports are an error.
	const redundant = "package policy\nqubes: work: allow: all: {to: \"any\"}\nqubes: work: allow: zz: {to: \"any\", tcp: [22]}\n"
	warned := policyDir(t, redundant, inventory)
	broken := policyDir(t, redundant+"qubes: work: allow: web: {to: \"any\", tcp: \"all\"}\n", inventory)
	opts := deploy.BuildOptions{Now: time.Unix(1e9, 0)}

	p, err := Load(good, good, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Programs[0] == nil || p.Programs[1] == nil || p.Failed() {
		t.Errorf("two good policies: programs %v, diagnostics %v", p.Programs, p.Diagnostics)
	}
	if r := p.Compare(); r.Changed() {
		t.Error("a policy compared with itself changes")
	}

	p, err = Load(warned, broken, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Programs != [2]*ir.Program{} || len(p.Diagnostics[0].Warnings) != 1 || len(p.Diagnostics[0].Errors) != 0 || len(p.Diagnostics[1].Errors) != 1 {
		t.Errorf("a warned base, a broken head: programs %v, diagnostics %v; want none, a warning in the base and an error in the head", p.Programs, p.Diagnostics)
	}
	var b strings.Builder
	if err := p.WriteErrors(&b); err != nil {
		t.Fatal(err)
	}
	// The base's warnings are vet's to show.
	const want = `HEAD/policy.cue:3:21: warning: qubes.work.allow.zz: the rule is redundant: allow.all already accepts all its packets
    HEAD/policy.cue:2:21
HEAD/policy.cue:4:43: qubes.work.allow.web.tcp: ports are true (every port) or a list of numbers and "first-last" ranges
`
	if got := strings.ReplaceAll(b.String(), broken, "HEAD"); !p.Failed() || got != want {
		t.Errorf("a broken head: failed %v, errors:\n%s\nwant:\n%s", p.Failed(), got, want)
	}

	nowhere := filepath.Join(good, "nowhere")
	if _, err := Load(good, nowhere, opts); err == nil {
		t.Errorf("Load of %s read it", nowhere)
	}
	// The error names the side that does not read.
	file := filepath.Join(good, "policy.cue")
	for _, tt := range []struct{ base, head, which string }{{file, good, "BASE"}, {good, file, "HEAD"}} {
		want := fmt.Sprintf("%s %q is a file: want a policy directory or a git revision", tt.which, file)
		if _, err := Load(tt.base, tt.head, opts); err == nil || err.Error() != want {
			t.Errorf("Load(%s, %s): %v; want %s", tt.base, tt.head, err, want)
		}
	}
}
