package graph

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/reach"
)

func pfx(s string) ir.Dst { return ir.Dst{Prefix: netip.MustParsePrefix(s)} }

func rule(a ir.Action, name string, m ir.Match) ir.Rule {
	k := ir.Allow
	if a == ir.Drop {
		k = ir.Deny
	}
	return ir.Rule{Action: a, Match: m, Origin: ir.Origin{Kind: k, Name: name}}
}

func tcp(port uint16) ir.Match {
	return ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ir.PortRange{First: port, Last: port}}
}

func to(d ir.Dst, m ir.Match) ir.Match { m.Dst = d; return m }

// client returns a qube behind firewall, enforcing rules as opts says,
// with addresses in families.
func client(name, firewall string, b ir.Backend, opts eval.Options, families []int, rules ...ir.Rule) Client {
	in := &reach.Input{Lists: [2][]ir.Rule{ir.FamilyRules(rules, 4, 0), ir.FamilyRules(rules, 6, 0)}, Families: families, Options: opts}
	return Client{Name: name, Firewall: firewall, Backend: b, Set: reach.Compute(reach.NewUniverse(reach.Names(in)), in)}
}

func describe(r *ir.Rule) string { return r.Origin.String() }

// testClients are a qube of each kind: one with a deny rule, one whose
// IPv6 list its firewall qube refuses, one with a name not pinned, and one
// without a netvm.
func testClients() []Client {
	nft := eval.Options{DNS4: eval.QubesDNS(), Semantics: eval.Nftables}
	agent := eval.Options{DNS4: eval.QubesDNS(), Resolver: eval.Table(map[string][]netip.Addr{"example.org": {netip.MustParseAddr("192.0.2.10")}})}
	return []Client{
		client("work", "sys-firewall", ir.Nftables, nft, []int{4},
			rule(ir.Accept, "dns", ir.Match{DNS: true}),
			rule(ir.Drop, "lan", to(pfx("192.168.0.0/16"), ir.Match{})),
			rule(ir.Accept, "web", tcp(443))),
		client("dev", "sys-vpn", ir.QubesAgent, agent, []int{4, 6},
			rule(ir.Accept, "site", to(ir.Dst{Host: "example.org"}, tcp(443))),
			rule(ir.Accept, "git", to(ir.Dst{Host: "github.com"}, tcp(22)))),
		{Name: "vault"},
	}
}

// text returns g's nodes and edges, one a line.
func text(g *Graph) string {
	var b strings.Builder
	for _, n := range g.Nodes {
		fmt.Fprintf(&b, "%s %q %s\n", n.Kind, n.Name, n.Detail)
	}
	for _, e := range g.Edges {
		fmt.Fprintf(&b, "%s -> %s -> %s: %s %s", e.From, e.Via, e.To, e.Verdict, e.Services)
		if e.Except != "" {
			fmt.Fprintf(&b, ", except %s", e.Except)
		}
		fmt.Fprintf(&b, " [%s]\n", e.Why)
	}
	return b.String()
}

// TestNew checks the nodes and edges of a graph: the verdicts, the
// services, what decides each edge, and the destinations shared.
func TestNew(t *testing.T) {
	g := New("test", testClients(), describe)
	want := `qube "dev" behind sys-vpn (qubes)
qube "vault" no netvm: reaches nothing
qube "work" behind sys-firewall (nftables)
firewall "sys-firewall" nftables
firewall "sys-vpn" qubes
dest "192.0.2.10" 
dest "github.com (IPv4)" 
dest "::/0, github.com (IPv6)" 
dest "0.0.0.0/0 (except 192.168.0.0/16)" 
dest "10.139.1.1, 10.139.1.2" 
dest "192.168.0.0/16" 
qube:dev -> firewall:sys-vpn -> dest:192.0.2.10: accept tcp 443 [by allow.site]
qube:dev -> firewall:sys-vpn -> dest:github.com (IPv4): accept tcp 22 [by allow.git]
qube:dev -> firewall:sys-vpn -> dest:::/0, github.com (IPv6): refuse any protocol [allow.site names example.org, which has no IPv6 address, so sys-vpn refuses the whole IPv6 list]
qube:work -> firewall:sys-firewall -> dest:0.0.0.0/0 (except 192.168.0.0/16): accept tcp 443 [by allow.web]
qube:work -> firewall:sys-firewall -> dest:10.139.1.1, 10.139.1.2: accept dns [by allow.dns]
qube:work -> firewall:sys-firewall -> dest:192.168.0.0/16: deny any protocol [by deny.lan]
`
	if got := text(g); got != want {
		t.Errorf("graph:\n%s\nwant:\n%s", got, want)
	}
	if got, want := strings.Join(g.Unpinned, ", "), "github.com"; got != want {
		t.Errorf("unpinned %q, want %q", got, want)
	}
}

// TestExcept checks an edge whose line leaves packets out: the exception
// is kept apart from the services, and the label says there is one.
func TestExcept(t *testing.T) {
	nft := eval.Options{DNS4: eval.QubesDNS(), Semantics: eval.Nftables}
	c := client("work", "sys-firewall", ir.Nftables, nft, []int{4},
		rule(ir.Accept, "ssh", to(pfx("192.0.2.0/24"), tcp(22))),
		rule(ir.Accept, "all", ir.Match{}))
	g := New("test", []Client{c}, describe)
	var got []string
	for i := range g.Edges {
		e := &g.Edges[i]
		got = append(got, fmt.Sprintf("%s | %s | %s | %s", e.Services, e.Except, g.Node(e.To).Name, edgeLabel(e)))
	}
	want := []string{
		"any protocol | tcp 22 to 192.0.2.0/24 | 0.0.0.0/0 | any protocol, with exceptions",
		"tcp 22 |  | 192.0.2.0/24 | tcp 22",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("edges:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestDeterministic checks that the page and the DOT are the same, byte
// for byte, whatever the order of the clients.
func TestDeterministic(t *testing.T) {
	a := testClients()
	b := []Client{a[2], a[0], a[1]}
	for _, write := range []func(*Graph, *bytes.Buffer) error{
		func(g *Graph, w *bytes.Buffer) error { return g.WriteHTML(w) },
		func(g *Graph, w *bytes.Buffer) error { return g.WriteDOT(w) },
	} {
		var x, y bytes.Buffer
		if err := write(New("t", a, describe), &x); err != nil {
			t.Fatal(err)
		}
		if err := write(New("t", b, describe), &y); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x.Bytes(), y.Bytes()) {
			t.Errorf("the output depends on the order of the clients:\n%s\n----\n%s", x.String(), y.String())
		}
	}
}

// TestContentSecurityPolicy checks that the page's policy allows its own
// script and styles, as written into it, and loads nothing else.
func TestContentSecurityPolicy(t *testing.T) {
	var b bytes.Buffer
	if err := New("t", testClients(), describe).WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	between := func(open, end string) string {
		_, rest, ok := strings.Cut(page, open)
		if !ok {
			t.Fatalf("no %s in the page", open)
		}
		in, _, _ := strings.Cut(rest, end)
		return in
	}
	hashOf := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
	}
	want := fmt.Sprintf("default-src 'none'; style-src '%s'; script-src '%s'; base-uri 'none'; form-action 'none'",
		hashOf(between("<style>", "</style>")), hashOf(between("<script>", "</script>")))
	if csp != want {
		t.Errorf("content security policy %q, want %q", csp, want)
	}
	for _, ref := range []string{"src=", "href=", "@import", "url(http", "//cdn", "<link"} {
		if strings.Contains(page, ref) {
			t.Errorf("the page holds %q: it must load nothing", ref)
		}
	}
}

// TestDraw checks the drawing's layout: nodes of a column do not overlap,
// and every edge label has a line of its own at its destinations.
func TestDraw(t *testing.T) {
	d := draw(New("t", testClients(), describe))
	for i, a := range d.Nodes {
		if a.X < 0 || a.Y < 0 || a.X+a.W > float64(d.Width) || a.Y+a.H > float64(d.Height) {
			t.Errorf("%s at %v,%v %vx%v is outside the drawing, %dx%d", a.ID, a.X, a.Y, a.W, a.H, d.Width, d.Height)
		}
		for _, b := range d.Nodes[i+1:] {
			if a.X == b.X && a.Y < b.Y+b.H && b.Y < a.Y+a.H {
				t.Errorf("%s and %s overlap", a.ID, b.ID)
			}
		}
	}
	labels := map[[2]float64]string{}
	for _, e := range d.Edges {
		at := [2]float64{e.LabelX, e.LabelY}
		if other, ok := labels[at]; ok {
			t.Errorf("the labels of %s and %s are at the same place", other, e.DOMID)
		}
		labels[at] = e.DOMID
	}
}

func TestQuote(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"work", `"work"`},
		{`a "b" \c`, `"a \"b\" \\c"`},
		{"two\nlines", `"two\nlines"`},
	} {
		if got := quote(tt.in); got != tt.want {
			t.Errorf("quote(%q) = %s; want %s", tt.in, got, tt.want)
		}
	}
}

func TestWrap(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want []string
	}{
		{"10.0.0.0/8", 20, []string{"10.0.0.0/8"}},
		{"0.0.0.0/0 (except 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)", 44,
			[]string{"0.0.0.0/0 (except 10.0.0.0/8, 172.16.0.0/12,", "  192.168.0.0/16)"}},
		{"a-very-long-name.example.org", 10, []string{"a-very-lo…"}},
	} {
		if got := wrap(tt.in, tt.n); strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("wrap(%q, %d) = %q; want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

// TestEscape checks that text from the policy cannot make markup of the
// page, nor break out of a DOT string.
func TestEscape(t *testing.T) {
	nft := eval.Options{DNS4: eval.QubesDNS(), Semantics: eval.Nftables}
	bad := "x\"><script>alert(1)</script>\n}"
	g := New(bad, []Client{client(bad, bad, ir.Nftables, nft, []int{4}, rule(ir.Accept, bad, tcp(443)))}, describe)
	var page, dot bytes.Buffer
	if err := g.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if err := g.WriteDOT(&dot); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(page.String(), "<script>"); n != 1 {
		t.Errorf("the page holds %d <script> tags, want its own only", n)
	}
	if strings.Contains(page.String(), `x">`) {
		t.Errorf("a name closes an attribute of the page")
	}
	_, body, _ := strings.Cut(dot.String(), "\n")
	if strings.Contains(body, `x">`) || strings.Contains(body, "\n}\"") {
		t.Errorf("a name closes a DOT string:\n%s", dot.String())
	}
}
