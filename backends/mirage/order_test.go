package mirage

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
)

func TestCheckOrder(t *testing.T) {
	lan6 := named(drop(ir.Match{Dst: pfx("fd00::/8")}), "lan6", 2)
	web := named(accept(ir.Match{Dst: pfx("192.0.2.0/24")}), "web", 3)
	v6 := named(accept(ir.Match{Dst: pfx("2001:db8::/32")}), "v6", 4)
	tests := []struct {
		name  string
		rules []ir.Rule
		want  []string // severity and rule of each diagnostic
	}{
		{"none", nil, nil},
		{"ipv4 only", []ir.Rule{deny10, web}, nil},
		{"ipv6 last", []ir.Rule{deny10, web, lan6, v6}, nil},
		{"ipv6 first", []ir.Rule{lan6, deny10, web}, []string{"error 0"}},
		// Every gap before an IPv4 rule is an error: fixing the first
		// would reveal the next.
		{"two gaps", []ir.Rule{lan6, deny10, v6, web}, []string{"error 0", "error 2"}},
		// A rule for both families is written to the IPv4 tree.
		{"ipv6 before any", []ir.Rule{lan6, accept(ir.Match{})}, []string{"error 0"}},
		{"ipv6 before dns", []ir.Rule{lan6, accept(ir.Match{DNS: true})}, []string{"error 0"}},
		// Expired: a gap now; expiring: a gap later, if no IPv4 rule after
		// it expires first.
		{"expired", []ir.Rule{{Action: ir.Drop, Expire: now}, web}, []string{"error 0"}},
		{"expired after ipv4", []ir.Rule{web, {Action: ir.Drop, Expire: now}, lan6}, nil},
		{"expiring", []ir.Rule{{Action: ir.Drop, Expire: now + 60}, web}, []string{"warning 0"}},
		{"expiring before expiring earlier", []ir.Rule{{Action: ir.Drop, Expire: now + 60}, {Action: ir.Accept, Expire: now + 30}}, []string{"warning 1"}[:0]},
		{"expiring before expiring later", []ir.Rule{{Action: ir.Drop, Expire: now + 60}, {Action: ir.Accept, Expire: now + 90}}, []string{"warning 0"}},
		{"expiring ipv6", []ir.Rule{{Action: ir.Drop, Expire: now + 60, Match: ir.Match{Dst: pfx("fd00::/8")}}, web}, []string{"error 0"}},
	}
	for _, tt := range tests {
		var got []string
		for _, d := range checkOrder(tt.rules, now) {
			got = append(got, fmt.Sprintf("%s %d", d.Severity, d.Rule))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: checkOrder = %q; want %q", tt.name, got, tt.want)
		}
	}
}

func TestReorder(t *testing.T) {
	lan := []ir.Rule{
		named(drop(ir.Match{Dst: pfx("10.0.0.0/8")}), "lan", 1),
		named(drop(ir.Match{Dst: pfx("172.16.0.0/12")}), "lan", 1),
		named(drop(ir.Match{Dst: pfx("192.168.0.0/16")}), "lan", 1),
		named(drop(ir.Match{Dst: pfx("fd00::/8")}), "lan", 1),
	}
	dns := named(accept(ir.Match{DNS: true}), "dns", 2)
	rest := named(accept(ir.Match{}), "rest", 3)
	tracker := named(drop(ir.Match{Dst: host("tracker.example")}), "tracker", 4)
	tests := []struct {
		name  string
		rules []ir.Rule
		want  []string // FormatRule of each rule, or the error
	}{
		{"empty", nil, nil},
		{"no ipv6", []ir.Rule{dns, rest}, []string{"action=accept specialtarget=dns", "action=accept"}},
		{"ipv6 last", []ir.Rule{dns, lan[3], rest}[:2], []string{"action=accept specialtarget=dns", "action=drop dst6=fd00::/8"}},
		// DNS rules may match IPv6 packets (to a Linux firewall qube's
		// own IPv6 DNS servers), so they split too.
		{"past dns", []ir.Rule{lan[3], dns}, []string{"action=accept dst4=0.0.0.0/0 specialtarget=dns", "action=drop dst6=fd00::/8", "action=accept dst6=::/0 specialtarget=dns"}},
		{"past dns ipv6 tcp 25", []ir.Rule{drop(ir.Match{Dst: pfx("fd00::/8"), Proto: ir.TCP, HasPorts: true, Ports: ports(25, 25)}), dns}, []string{"action=accept specialtarget=dns", "action=drop dst6=fd00::/8 proto=tcp dstports=25-25"}},
		// Same action: the order does not matter.
		{"past same action", []ir.Rule{named(accept(ir.Match{Dst: pfx("2001:db8::/32")}), "v6", 5), rest}, []string{"action=accept", "action=accept dst6=2001:db8::/32"}},
		// Protocols that cannot meet.
		{"past other protocol", []ir.Rule{
			drop(ir.Match{Dst: pfx("fd00::/8"), Proto: ir.TCP}),
			accept(ir.Match{Proto: ir.UDP}),
		}, []string{"action=accept proto=udp", "action=drop dst6=fd00::/8 proto=tcp"}},
		{"past other ports", []ir.Rule{
			drop(ir.Match{Dst: pfx("fd00::/8"), Proto: ir.TCP, HasPorts: true, Ports: ports(25, 25)}),
			accept(ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ports(80, 443)}),
		}, []string{"action=accept proto=tcp dstports=80-443", "action=drop dst6=fd00::/8 proto=tcp dstports=25-25"}},
		// The deny-LAN profile of the design: "allow any" after the IPv6
		// LAN drop splits by family.
		{"split", append(slices.Clone(lan), dns, rest), []string{
			"action=drop dst4=10.0.0.0/8",
			"action=drop dst4=172.16.0.0/12",
			"action=drop dst4=192.168.0.0/16",
			"action=accept dst4=0.0.0.0/0 specialtarget=dns",
			"action=accept dst4=0.0.0.0/0",
			"action=drop dst6=fd00::/8",
			"action=accept dst6=::/0 specialtarget=dns",
			"action=accept dst6=::/0",
		}},
		// IPv6 rules and IPv6 halves keep their order.
		{"split order", []ir.Rule{
			drop(ir.Match{Dst: pfx("fd00::/8")}),
			accept(ir.Match{Proto: ir.TCP}),
			drop(ir.Match{Dst: pfx("2001:db8::/32")}),
			accept(ir.Match{}),
		}, []string{
			"action=accept dst4=0.0.0.0/0 proto=tcp",
			"action=accept dst4=0.0.0.0/0",
			"action=drop dst6=fd00::/8",
			"action=accept dst6=::/0 proto=tcp",
			"action=drop dst6=2001:db8::/32",
			"action=accept dst6=::/0",
		}},
		// A name cannot be split.
		{"name", []ir.Rule{lan[3], named(accept(ir.Match{Dst: host("github.com")}), "git", 5)}, []string{
			"policy.cue:5:3: allow.git: this rule must come before deny.lan, an IPv6 rule, so that the unikernel reads it (it stops at the gap an IPv6 rule leaves), but the two may decide the same IPv6 traffic differently, " +
				"and the rule cannot be split by family, as its host name github.com is for both families; give deny.lan a later priority than this rule, or write this rule's destinations as addresses",
		}},
		// Nor can a rule with an ICMP type, which an IPv6 rule reads as an
		// ICMPv6 type.
		{"icmp type", []ir.Rule{lan[3], named(accept(ir.Match{Proto: ir.ICMP, HasICMPType: true, ICMPType: 8}), "ping", 5)}, []string{
			"policy.cue:5:3: allow.ping: this rule must come before deny.lan, an IPv6 rule, so that the unikernel reads it (it stops at the gap an IPv6 rule leaves), but the two may decide the same IPv6 traffic differently, " +
				"and the rule cannot be split by family, as its ICMP type means one thing in an IPv4 rule and another in an IPv6 rule; give deny.lan a later priority than this rule, or write this rule's destinations as addresses",
		}},
		// The IPv6 half of a split rule counts like an IPv6 rule.
		{"name after split", append(slices.Clone(lan[3:]), rest, tracker), []string{
			"policy.cue:4:3: deny.tracker: this rule must come before allow.rest, an IPv6 rule, so that the unikernel reads it (it stops at the gap an IPv6 rule leaves), but the two may decide the same IPv6 traffic differently, " +
				"and the rule cannot be split by family, as its host name tracker.example is for both families; give allow.rest a later priority than this rule, or write this rule's destinations as addresses",
		}},
	}
	for _, tt := range tests {
		in := slices.Clone(tt.rules)
		out, err := Reorder(tt.rules)
		var got []string
		if err != nil {
			for _, e := range errors.Errors(err) {
				got = append(got, e.Error())
			}
			if out != nil {
				t.Errorf("%s: Reorder returned a list and an error", tt.name)
			}
		}
		for _, r := range out {
			got = append(got, FormatRule(r))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: Reorder:\n%s\nwant:\n%s", tt.name, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
		}
		if !slices.EqualFunc(in, tt.rules, func(a, b ir.Rule) bool { return a == b }) {
			t.Errorf("%s: Reorder modified its input", tt.name)
		}
		if err != nil {
			continue
		}
		if again, err := Reorder(out); err != nil || !slices.Equal(again, out) {
			t.Errorf("%s: Reorder is not idempotent: %v", tt.name, err)
		}
		if ds := checkOrder(out, now); len(ds) != 0 {
			t.Errorf("%s: checkOrder after Reorder: %v", tt.name, ds)
		}
	}
}

// TestReorderError checks that Reorder reports every rule it cannot move,
// each pointing at the IPv6 rule in its way too.
func TestReorderError(t *testing.T) {
	rules := []ir.Rule{
		named(drop(ir.Match{Dst: pfx("fd00::/8")}), "lan6", 2),
		named(accept(ir.Match{Dst: host("a.example")}), "a", 3),
		named(accept(ir.Match{Dst: host("b.example")}), "b", 4),
	}
	_, err := Reorder(rules)
	var got []string
	for _, e := range errors.Errors(err) {
		got = append(got, fmt.Sprint(e.Position(), e.InputPositions()))
	}
	want := []string{
		fmt.Sprint(pos(3), []token.Pos{pos(2)}),
		fmt.Sprint(pos(4), []token.Pos{pos(2)}),
	}
	if !slices.Equal(got, want) {
		t.Errorf("error positions %q; want %q", got, want)
	}
}

// TestReorderKeepsMeaning checks with the reference evaluator that
// Reorder changes no verdict, in either family, under the semantics of
// both Linux backends.
func TestReorderKeepsMeaning(t *testing.T) {
	resolve := eval.Table{
		"tracker.example": {netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("2001:db8::7")},
		"github.com":      {netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8:1::10")},
	}
	lists := [][]ir.Rule{
		{
			drop(ir.Match{Dst: pfx("10.0.0.0/8")}),
			drop(ir.Match{Dst: pfx("fd00::/8")}),
			accept(ir.Match{DNS: true}),
			drop(ir.Match{Dst: pfx("192.168.0.0/16")}),
			accept(ir.Match{}),
		},
		{
			accept(ir.Match{Dst: host("github.com"), Proto: ir.TCP, HasPorts: true, Ports: ports(22, 22)}),
			drop(ir.Match{Dst: pfx("2001:db8::/32"), Proto: ir.TCP, HasPorts: true, Ports: ports(22, 443)}),
			accept(ir.Match{Dst: pfx("2001:db8:1::/48"), Proto: ir.ICMP, HasICMPType: true, ICMPType: 128}),
			accept(ir.Match{Proto: ir.UDP}),
			drop(ir.Match{Dst: pfx("fd00::/8"), Proto: ir.UDP}),
			accept(ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ports(443, 443)}),
			drop(ir.Match{Proto: ir.ICMP}),
			accept(ir.Match{Dst: pfx("0.0.0.0/0")}),
			accept(ir.Match{}),
		},
		{
			drop(ir.Match{Dst: host("tracker.example")}),
			accept(ir.Match{Dst: pfx("2001:db8::/32")}),
			drop(ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ports(25, 25)}),
			drop(ir.Match{Dst: pfx("::/0"), Proto: ir.UDP}),
			accept(ir.Match{DNS: true}),
			accept(ir.Match{}),
		},
	}
	var dsts []netip.Addr
	for _, s := range []string{"10.1.2.3", "192.168.1.1", "192.0.2.10", "198.51.100.7", "10.139.1.1", "1.1.1.1",
		"fd00::1", "2001:db8::7", "2001:db8::53", "2001:db8:1::10", "2001:db8:2::1", "2606:4700::1111"} {
		dsts = append(dsts, netip.MustParseAddr(s))
	}
	type probe struct {
		proto uint8
		port  uint16
		typ   uint8
	}
	var probes []probe
	for _, p := range []uint16{22, 25, 53, 443, 8080} {
		probes = append(probes, probe{eval.ProtoTCP, p, 0}, probe{eval.ProtoUDP, p, 0})
	}
	probes = append(probes, probe{eval.ProtoICMP, 0, 8}, probe{eval.ProtoICMPv6, 0, 128}, probe{47, 0, 0})

	for li, rules := range lists {
		out, err := Reorder(rules)
		if err != nil {
			t.Fatalf("list %d: %v", li, err)
		}
		if ds := checkOrder(out, now); len(ds) != 0 {
			t.Errorf("list %d: checkOrder after Reorder: %v", li, ds)
		}
		for _, sem := range []eval.Semantics{eval.LinuxAgent, eval.Nftables} {
			// IPv6 DNS servers, as a Linux firewall qube without a netvm
			// may have.
			opts := eval.Options{Resolver: resolve, DNS4: eval.QubesDNS(), DNS6: []netip.Addr{netip.MustParseAddr("2001:db8::53")}, Semantics: sem}
			before := eval.New(ir.FamilyRules(rules, 4, now), ir.FamilyRules(rules, 6, now), opts)
			after := eval.New(ir.FamilyRules(out, 4, now), ir.FamilyRules(out, 6, now), opts)
			for _, d := range dsts {
				for _, pr := range probes {
					if (pr.proto == eval.ProtoICMP && d.Is6()) || (pr.proto == eval.ProtoICMPv6 && d.Is4()) {
						continue
					}
					p := eval.Packet{Dst: d, Proto: pr.proto, Port: pr.port, ICMPType: pr.typ}
					if b, a := before.Eval(p), after.Eval(p); b.Action != a.Action {
						t.Errorf("list %d, semantics %d: %v proto %d port %d type %d: %s before, %s after", li, sem, d, pr.proto, pr.port, pr.typ, b.Action, a.Action)
					}
				}
			}
		}
	}
}
