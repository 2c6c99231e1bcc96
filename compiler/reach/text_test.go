package reach

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
)

func pfx(s string) ir.Dst { return ir.Dst{Prefix: netip.MustParsePrefix(s)} }

func allow(name string, m ir.Match) ir.Rule {
	return ir.Rule{Action: ir.Accept, Match: m, Origin: ir.Origin{Kind: ir.Allow, Name: name}}
}

func deny(name string, m ir.Match) ir.Rule {
	return ir.Rule{Action: ir.Drop, Match: m, Origin: ir.Origin{Kind: ir.Deny, Name: name}}
}

func tcpPorts(first, last uint16) ir.Match {
	return ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ir.PortRange{First: first, Last: last}}
}

func to(d ir.Dst, m ir.Match) ir.Match { m.Dst = d; return m }

// summaryText returns the lines of the difference between two lists, one
// a line: "+ " or "- ", the line, and the rules that decide it.
func summaryText(base, head []ir.Rule, opts eval.Options, families ...int) string {
	in := func(rules []ir.Rule) *Input {
		return &Input{Lists: [2][]ir.Rule{ir.FamilyRules(rules, 4, 0), ir.FamilyRules(rules, 6, 0)}, Families: families, Options: opts}
	}
	a, b := in(base), in(head)
	u := NewUniverse(append(Names(a), Names(b)...))
	sa, sb := Compute(u, a), Compute(u, b)
	var out []string
	for _, l := range Summarise(u, sa, sb, Diff(sa, sb)) {
		mark := "- "
		if l.Widened {
			mark = "+ "
		}
		out = append(out, mark+l.String()+" ["+reasonString(l.Base)+" → "+reasonString(l.Head)+"]")
	}
	return strings.Join(out, "\n")
}

func reasonString(r Reason) string {
	switch r.Kind {
	case ByRule:
		return r.Rule.Origin.String()
	case FinalDrop:
		return "final drop"
	}
	return "other"
}

// TestSummaryText checks the words of summaries, case by case.
func TestSummaryText(t *testing.T) {
	qubesDNS := eval.Options{DNS4: eval.QubesDNS()}
	nft := eval.Options{DNS4: eval.QubesDNS(), Semantics: eval.Nftables}
	web := allow("web", tcpPorts(443, 443))
	lan := deny("lan", to(pfx("192.168.0.0/16"), ir.Match{}))
	for _, tt := range []struct {
		name       string
		base, head []ir.Rule
		opts       eval.Options
		families   []int
		want       string
	}{
		{"nothing changes", []ir.Rule{web}, []ir.Rule{web}, qubesDNS, []int{4, 6}, ""},
		{"a port to every destination", nil, []ir.Rule{web}, nft, []int{4, 6},
			"+ tcp 443 to any destination [final drop → allow.web]"},
		{"the stock agent and IPv6 extension headers", nil, []ir.Rule{web}, qubesDNS, []int{4, 6},
			"+ tcp 443 to 0.0.0.0/0 [final drop → allow.web]\n+ tcp 443 without IPv6 extension headers to ::/0 [final drop → allow.web]"},
		{"IPv4 only, less the LAN", []ir.Rule{lan}, []ir.Rule{lan, web}, qubesDNS, []int{4},
			"+ tcp 443 to 0.0.0.0/0 (except 192.168.0.0/16) [final drop → allow.web]"},
		{"an exception in a deny", []ir.Rule{lan, web}, []ir.Rule{allow("printer", to(pfx("192.168.1.50/32"), tcpPorts(631, 631))), lan, web}, qubesDNS, []int{4},
			"+ tcp 631 to 192.168.1.50 [deny.lan → allow.printer]"},
		{"a prefix less a hole, as that prefix", nil, []ir.Rule{deny("fw", to(pfx("10.137.0.9/32"), ir.Match{})), allow("net", to(pfx("10.0.0.0/8"), ir.Match{}))}, qubesDNS, []int{4},
			"+ any protocol to 10.0.0.0/8 (except 10.137.0.9) [final drop → allow.net]"},
		{"two prefixes less holes, as their prefixes", nil, []ir.Rule{deny("fw", to(pfx("10.137.0.9/32"), ir.Match{})), allow("net", to(pfx("10.0.0.0/8"), ir.Match{})), allow("net", to(pfx("::/0"), ir.Match{}))}, qubesDNS, []int{4, 6},
			"+ any protocol to 10.0.0.0/8 (except 10.137.0.9), ::/0 [final drop → allow.net]"},
		{"a range as prefixes", nil, []ir.Rule{allow("r", to(pfx("10.0.0.0/31"), ir.Match{})), allow("r", to(pfx("10.0.0.2/32"), ir.Match{}))}, qubesDNS, []int{4},
			"+ any protocol to 10.0.0.0/31, 10.0.0.2 [final drop → allow.r]"},
		{"dns", []ir.Rule{allow("dns", ir.Match{DNS: true})}, nil, qubesDNS, []int{4},
			"- dns to 10.139.1.1, 10.139.1.2 [allow.dns → final drop]"},
		{"dns over udp", []ir.Rule{allow("dns", ir.Match{DNS: true})}, []ir.Rule{allow("dns", ir.Match{DNS: true, Proto: ir.TCP})}, qubesDNS, []int{4},
			"- dns over udp to 10.139.1.1, 10.139.1.2 [allow.dns → final drop]"},
		{"icmp types", nil, []ir.Rule{allow("ping", ir.Match{Proto: ir.ICMP, HasICMPType: true, ICMPType: 8}), allow("ping", ir.Match{Proto: ir.ICMP, HasICMPType: true, ICMPType: 0})}, qubesDNS, []int{4},
			"+ icmp types 0, 8 to 0.0.0.0/0 [final drop → allow.ping]"},
		{"a name not pinned", nil, []ir.Rule{allow("git", to(ir.Dst{Host: "github.com"}, tcpPorts(22, 22)))}, nft, []int{4, 6},
			"+ tcp 22 to github.com [final drop → allow.git]"},
		{"an exception of services", nil, []ir.Rule{deny("dns", to(pfx("10.139.1.1/32"), ir.Match{Proto: ir.UDP, HasPorts: true, Ports: ir.PortRange{First: 53, Last: 53}})),
			deny("dns", to(pfx("10.139.1.2/32"), ir.Match{Proto: ir.UDP, HasPorts: true, Ports: ir.PortRange{First: 53, Last: 53}})),
			allow("udp", to(pfx("10.139.1.0/24"), ir.Match{Proto: ir.UDP}))}, qubesDNS, []int{4},
			"+ udp to 10.139.1.0/24, except udp 53 to 10.139.1.1, 10.139.1.2 [final drop → allow.udp]"},
		{"IPv6 extension headers behind the stock agent", []ir.Rule{allow("all", ir.Match{})}, []ir.Rule{deny("ssh", tcpPorts(22, 22)), allow("all", ir.Match{})}, qubesDNS, []int{6},
			"- tcp 22 without IPv6 extension headers to ::/0 [allow.all → deny.ssh]"},
		{"IPv6 extension headers behind qfw's nftables", []ir.Rule{allow("all", ir.Match{})}, []ir.Rule{deny("ssh", tcpPorts(22, 22)), allow("all", ir.Match{})}, nft, []int{6},
			"- tcp 22 to ::/0 [allow.all → deny.ssh]"},
		{"a reordering of allows", []ir.Rule{web, allow("ssh", tcpPorts(22, 22))}, []ir.Rule{allow("ssh", tcpPorts(22, 22)), web}, qubesDNS, []int{4, 6}, ""},
	} {
		if got := summaryText(tt.base, tt.head, tt.opts, tt.families...); got != tt.want {
			t.Errorf("%s:\ngot  %s\nwant %s", tt.name, got, tt.want)
		}
	}
}
