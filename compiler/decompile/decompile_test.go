package decompile

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/compiler/ir"
)

func TestRuleNames(t *testing.T) {
	rules := []ir.Rule{
		{Comment: "dns"}, {Comment: "lan"}, {Comment: "lan"}, {Comment: ""},
		{Comment: "no mail"}, {Comment: "rule-6"}, {Comment: "web"}, {Comment: "web-8"},
	}
	want := []string{"dns", "lan-2", "lan-3", "rule-4", "rule-5", "rule-6", "web", "web-8"}
	if got := RuleNames(rules); !slices.Equal(got, want) {
		t.Errorf("RuleNames = %q; want %q", got, want)
	}
	// A generated name never takes one that a comment gave.
	clash := []ir.Rule{{Comment: ""}, {Comment: "rule-1"}}
	if got := RuleNames(clash); got[0] == got[1] {
		t.Errorf("RuleNames gave %q twice", got[0])
	}
}

func TestLabel(t *testing.T) {
	for in, want := range map[string]string{
		"work": "work", "sys-net": `"sys-net"`, "web01": "web01", "1st": `"1st"`,
		"if": `"if"`, "true": `"true"`, "_x": `"_x"`, "a.b": `"a.b"`,
	} {
		if got := label(in); got != want {
			t.Errorf("label(%q) = %s; want %s", in, got, want)
		}
	}
}

func TestRuleErrors(t *testing.T) {
	dns := ir.Match{DNS: true}
	for name, m := range map[string]ir.Match{
		"a destination": {DNS: true, Dst: ir.Dst{Prefix: netip.MustParsePrefix("10.139.1.1/32")}},
		"proto=icmp":    {DNS: true, Proto: ir.ICMP},
		"other than 53": {DNS: true, Proto: ir.TCP, HasPorts: true, Ports: ir.PortRange{First: 80, Last: 80}},
	} {
		q := Qube{Name: "work", Rules: []ir.Rule{{Action: ir.Accept, Match: dns}, {Action: ir.Accept, Match: m}}}
		_, err := Entry(q)
		var re *RuleError
		if !errors.As(err, &re) || re.Index != 1 || !strings.Contains(re.Reason, name) {
			t.Errorf("%s: Entry error %v; want a RuleError for rule 2 about %s", name, err, name)
		}
	}
	// An empty list blocks everything; so does an entry with no rules.
	want := "\t// The list was empty: dom0 blocks all traffic, as this does.\n\twork: {}\n"
	if b, err := Entry(Qube{Name: "work"}); err != nil || string(b) != want {
		t.Errorf("Entry of an empty list = %q, %v; want %q", b, err, want)
	}
}

func TestFileFirewalls(t *testing.T) {
	fws := []Firewall{{Name: "mirage-fw", Backend: "mirage", MirageVersion: "0.9.5"}, {Name: "sys-firewall", Backend: "nftables"}}
	qs := []Qube{
		{Name: "work", Rules: []ir.Rule{{Action: ir.Accept, Match: ir.Match{Dst: ir.Dst{Host: "example.com"}, Proto: ir.ICMP, HasICMPType: true, ICMPType: 8}, Comment: "ping"}}},
		{Name: "blocked"},
	}
	got, err := File("policy", "", fws, qs)
	if err != nil {
		t.Fatal(err)
	}
	want := `package policy

firewalls: {
	"mirage-fw": backend: {mirage: {version: "0.9.5"}}
	"sys-firewall": backend: "nftables"
}

qubes: {
	work: {
		allow: ping: {to: "example.com", icmp: [8], icmpv6: [8], priority: 10}
	}

	// The list was empty: dom0 blocks all traffic, as this does.
	blocked: {}
}
`
	if string(got) != want {
		t.Errorf("File =\n%s\nwant\n%s", got, want)
	}
}
