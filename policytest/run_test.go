package policytest

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/qfw-dev/qfw/compiler/ir"
)

func pfx(s string) ir.Dst { return ir.Dst{Prefix: netip.MustParsePrefix(s)} }

func tcpPorts(first, last uint16) ir.Match {
	return ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ir.PortRange{First: first, Last: last}}
}

// program returns a program of one qube, work, behind sys-firewall, with
// the given rules and tests.
func program(ip6 bool, rules []ir.Rule, tests ...ir.Test) *ir.Program {
	q := ir.Qube{Name: "work", Netvm: "sys-firewall", IP: netip.MustParseAddr("10.137.0.11"), Network: true, Rules: rules}
	if ip6 {
		q.IP6 = netip.MustParseAddr("fd09:24ef:4179::a89:b")
	}
	for i := range tests {
		tests[i].Index, tests[i].From = i, "work"
	}
	return &ir.Program{
		Qubes:     []ir.Qube{q, {Name: "vault"}},
		Firewalls: []ir.Firewall{{Name: "sys-firewall", Clients: []string{"work"}}},
		Tests:     tests,
		Resolve:   map[string][]netip.Addr{"example.org": {netip.MustParseAddr("192.0.2.10")}},
	}
}

func TestRun(t *testing.T) {
	all := []ir.Proto{ir.TCP, ir.UDP, ir.ICMP}
	tcp := []ir.Proto{ir.TCP}
	tests := []struct {
		name   string
		ip6    bool
		rules  []ir.Rule
		test   ir.Test
		passed bool
		// packet is the first packet that did not pass, if any.
		packet string
	}{
		{"one address of a prefix differs",
			false,
			[]ir.Rule{{Action: ir.Drop, Match: ir.Match{Dst: pfx("192.0.2.77/32")}}, {Action: ir.Accept, Match: ir.Match{Dst: pfx("192.0.2.0/24")}}},
			ir.Test{To: pfx("192.0.2.0/24"), Protos: tcp, HasPort: true, Port: 80, Expect: ir.Accept},
			false, "192.0.2.77 tcp 80"},
		{"the prefix holds",
			false,
			[]ir.Rule{{Action: ir.Drop, Match: ir.Match{Dst: pfx("192.0.2.77/32")}}, {Action: ir.Accept, Match: ir.Match{Dst: pfx("192.0.2.0/24")}}},
			ir.Test{To: pfx("192.0.2.0/25"), Protos: tcp, HasPort: true, Port: 80, Expect: ir.Drop},
			false, "192.0.2.0 tcp 80"},
		{"every port: one range is not enough",
			false,
			[]ir.Rule{{Action: ir.Accept, Match: tcpPorts(1, 1000)}},
			ir.Test{To: pfx("192.0.2.1/32"), Protos: tcp, Expect: ir.Accept},
			false, "192.0.2.1 tcp 0"},
		{"every port and protocol to a prefix",
			false,
			[]ir.Rule{{Action: ir.Accept, Match: ir.Match{Dst: pfx("192.0.2.0/24")}}},
			ir.Test{To: pfx("192.0.2.0/24"), Protos: all, Expect: ir.Accept},
			true, ""},
		{"any: the rest of the address space is dropped",
			false,
			[]ir.Rule{{Action: ir.Accept, Match: ir.Match{Dst: pfx("0.0.0.0/1")}}},
			ir.Test{Protos: all, Expect: ir.Accept},
			false, "128.0.0.0 tcp 0"},
		{"IPv6 is tried when the qube has an IPv6 address",
			true,
			[]ir.Rule{{Action: ir.Accept, Match: ir.Match{Dst: pfx("0.0.0.0/0")}}},
			ir.Test{Protos: tcp, HasPort: true, Port: 443, Expect: ir.Accept},
			false, ":: tcp 443"},
		{"a host name's pinned addresses",
			false,
			[]ir.Rule{{Action: ir.Accept, Match: ir.Match{Dst: ir.Dst{Host: "example.org"}}}},
			ir.Test{To: ir.Dst{Host: "example.org"}, Protos: tcp, HasPort: true, Port: 443, Expect: ir.Accept},
			true, ""},
		{"the test pins the name differently, for the rule too",
			false,
			[]ir.Rule{{Action: ir.Drop, Match: ir.Match{Dst: pfx("198.51.100.0/24")}}, {Action: ir.Accept, Match: ir.Match{Dst: ir.Dst{Host: "example.org"}}}},
			ir.Test{To: ir.Dst{Host: "example.org"}, Addresses: []netip.Addr{netip.MustParseAddr("198.51.100.1")}, Protos: tcp, HasPort: true, Port: 443, Expect: ir.Accept},
			false, "198.51.100.1 tcp 443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := Run(program(tt.ip6, tt.rules, tt.test), 0, nil)
			if len(out) != 1 {
				t.Fatalf("Run returned %d outcomes; want 1", len(out))
			}
			o := out[0]
			got := ""
			if !o.Passed {
				got = o.Packet.Dst.String() + " " + map[uint8]string{6: "tcp", 17: "udp", 1: "icmp"}[o.Packet.Proto] + " " + strconv.Itoa(int(o.Packet.Port))
			}
			if o.Passed != tt.passed || got != tt.packet {
				t.Errorf("passed = %v, first failing packet %q; want %v, %q", o.Passed, got, tt.passed, tt.packet)
			}
		})
	}
}

func TestRunNoNetvm(t *testing.T) {
	prog := program(false, nil, ir.Test{To: pfx("192.0.2.1/32"), Protos: []ir.Proto{ir.TCP}, Expect: ir.Drop})
	prog.Tests[0].From = "vault"
	out := Run(prog, 0, nil)
	if !out[0].Passed || !out[0].NoNetvm || out[0].Packets != 0 {
		t.Errorf("vault: %+v; want passed with no netvm and no packets", out[0])
	}
	prog.Tests[0].Expect = ir.Accept
	if out := Run(prog, 0, nil); out[0].Passed {
		t.Errorf("vault expecting accept passed; want failed")
	}
}

// TestRunTranslatedICMPType checks that the types tried for IPv6 include
// the ICMPv6 counterparts of the rules' ICMP types, which the nftables
// backend matches: echo request (8) is ICMPv6 type 128 there.
func TestRunTranslatedICMPType(t *testing.T) {
	rules := []ir.Rule{{Action: ir.Accept, Match: ir.Match{Proto: ir.ICMP, HasICMPType: true, ICMPType: 8}}}
	test := ir.Test{Protos: []ir.Proto{ir.ICMP}, Expect: ir.Drop}
	for _, tt := range []struct {
		backend ir.Backend
		// fails is the first ICMPv6 packet the rule accepts: the agent
		// passes type 8 unchanged, nftables translates it.
		fails string
	}{
		{ir.QubesAgent, ":: icmpv6 type 8"},
		{ir.Nftables, ":: icmpv6 type 128"},
	} {
		p := program(true, rules, test)
		p.Firewalls[0].Backend = tt.backend
		// The IPv4 packets are accepted first; look at IPv6 alone.
		p.Qubes[0].IP = netip.Addr{}
		out := Run(p, 0, nil)
		if len(out) != 1 {
			t.Fatalf("Run returned %d outcomes; want 1", len(out))
		}
		o := out[0]
		got := o.Packet.Dst.String() + " icmpv6 type " + strconv.Itoa(int(o.Packet.ICMPType))
		if o.Passed || got != tt.fails {
			t.Errorf("%s: passed = %v, packet %q; want a failure at %q", tt.backend, o.Passed, got, tt.fails)
		}
	}
}
