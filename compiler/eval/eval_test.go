package eval

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// Tiny constructors keep each row on one line.

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func pfx(s string) ir.Dst { return ir.Dst{Prefix: netip.MustParsePrefix(s)} }

func host(s string) ir.Dst { return ir.Dst{Host: s} }

func accept(m ir.Match) ir.Rule { return ir.Rule{Action: ir.Accept, Match: m} }

func drop(m ir.Match) ir.Rule { return ir.Rule{Action: ir.Drop, Match: m} }

func tcp(p uint16) ir.Match {
	return ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ir.PortRange{First: p, Last: p}}
}

func to(d ir.Dst, m ir.Match) ir.Match { m.Dst = d; return m }

func tcpTo(a string, port uint16) Packet {
	return Packet{Dst: addr(a), Proto: ProtoTCP, Port: port}
}

func udpTo(a string, port uint16) Packet {
	return Packet{Dst: addr(a), Proto: ProtoUDP, Port: port}
}

func icmpTo(a string, typ uint8) Packet {
	p := Packet{Dst: addr(a), Proto: ProtoICMP, ICMPType: typ}
	if p.Dst.Is6() {
		p.Proto = ProtoICMPv6
	}
	return p
}

var resolver = Table{
	"example.org":  {addr("192.0.2.10"), addr("2001:db8::10")},
	"v4only.test":  {addr("192.0.2.20")},
	"nowhere.test": {},
}

// keeping is the resolver of the Nftables rows: failing.test resolved to
// addresses before, and resolves to none now.
var keeping = lastGood{
	Table: Table{"example.org": resolver["example.org"], "v4only.test": resolver["v4only.test"], "nowhere.test": {}, "failing.test": {}},
	last:  Table{"failing.test": {addr("192.0.2.30"), addr("2001:db8::30")}},
}

// lastGood is a Table that remembers earlier answers in last.
type lastGood struct {
	Table
	last Table
}

func (l lastGood) LastGood(host string, family int) []netip.Addr {
	addrs, _ := l.last.Resolve(host, family)
	return addrs
}

type evalTest struct {
	name   string
	rules  []ir.Rule // both families' list, as dom0 would split it
	packet Packet
	want   Result
}

// evalTests is shared by TestEval and TestEvalNoAllocs.
var evalTests = []evalTest{
	// First match and the implicit final drop.
	{"empty list drops", nil, tcpTo("192.0.2.1", 80), Result{ir.Drop, -1, -1, -1, -1}},
	{"accept all", []ir.Rule{accept(ir.Match{})}, tcpTo("192.0.2.1", 80), Result{ir.Accept, 0, -1, -1, -1}},
	{"first match wins", []ir.Rule{drop(to(pfx("192.0.2.0/24"), ir.Match{})), accept(ir.Match{})}, tcpTo("192.0.2.1", 80), Result{ir.Drop, 0, -1, -1, -1}},
	{"no match falls through", []ir.Rule{drop(to(pfx("192.0.2.0/24"), ir.Match{})), accept(ir.Match{})}, tcpTo("198.51.100.1", 80), Result{ir.Accept, 1, -1, -1, -1}},
	{"nothing matches, final drop", []ir.Rule{accept(tcp(443))}, tcpTo("192.0.2.1", 80), Result{ir.Drop, -1, -1, -1, -1}},

	// Protocols and ports: ports only with tcp and udp.
	{"port in range", []ir.Rule{accept(ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ir.PortRange{First: 8000, Last: 8080}})}, tcpTo("192.0.2.1", 8080), Result{ir.Accept, 0, -1, -1, -1}},
	{"port out of range", []ir.Rule{accept(ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ir.PortRange{First: 8000, Last: 8080}})}, tcpTo("192.0.2.1", 8081), Result{ir.Drop, -1, -1, -1, -1}},
	{"tcp rule, udp packet", []ir.Rule{accept(tcp(53))}, udpTo("192.0.2.1", 53), Result{ir.Drop, -1, -1, -1, -1}},
	{"proto without ports", []ir.Rule{accept(ir.Match{Proto: ir.UDP})}, udpTo("192.0.2.1", 9), Result{ir.Accept, 0, -1, -1, -1}},
	{"any protocol, gre", []ir.Rule{accept(ir.Match{})}, Packet{Dst: addr("192.0.2.1"), Proto: 47}, Result{ir.Accept, 0, -1, -1, -1}},
	{"tcp rule, gre packet", []ir.Rule{accept(ir.Match{Proto: ir.TCP})}, Packet{Dst: addr("192.0.2.1"), Proto: 47}, Result{ir.Drop, -1, -1, -1, -1}},

	// ICMP types, compared as numbers in both families.
	{"icmp any type", []ir.Rule{accept(ir.Match{Proto: ir.ICMP})}, icmpTo("192.0.2.1", 8), Result{ir.Accept, 0, -1, -1, -1}},
	{"icmp type matches", []ir.Rule{accept(ir.Match{Proto: ir.ICMP, HasICMPType: true, ICMPType: 8})}, icmpTo("192.0.2.1", 8), Result{ir.Accept, 0, -1, -1, -1}},
	{"icmp type differs", []ir.Rule{accept(ir.Match{Proto: ir.ICMP, HasICMPType: true, ICMPType: 8})}, icmpTo("192.0.2.1", 0), Result{ir.Drop, -1, -1, -1, -1}},
	{"icmp is icmpv6 in IPv6", []ir.Rule{accept(ir.Match{Proto: ir.ICMP})}, icmpTo("2001:db8::1", 128), Result{ir.Accept, 0, -1, -1, -1}},
	{"icmp rule, icmp protocol number in IPv6", []ir.Rule{accept(ir.Match{Proto: ir.ICMP})}, Packet{Dst: addr("2001:db8::1"), Proto: ProtoICMP}, Result{ir.Drop, -1, -1, -1, -1}},
	{"icmptype=8 is ICMPv6 type 8, not echo request", []ir.Rule{accept(ir.Match{Proto: ir.ICMP, HasICMPType: true, ICMPType: 8})}, icmpTo("2001:db8::1", 128), Result{ir.Drop, -1, -1, -1, -1}},

	// IPv6 prefixes.
	{"IPv6 prefix", []ir.Rule{accept(to(pfx("2001:db8::/32"), ir.Match{}))}, tcpTo("2001:db8:1::1", 443), Result{ir.Accept, 0, -1, -1, -1}},
	{"IPv6 prefix, other address", []ir.Rule{accept(to(pfx("2001:db8::/32"), ir.Match{}))}, tcpTo("2001:db9::1", 443), Result{ir.Drop, -1, -1, -1, -1}},

	// The DNS special target: the DNS servers, port 53, tcp and udp.
	{"dns udp 53", []ir.Rule{accept(ir.Match{DNS: true})}, udpTo("10.139.1.1", 53), Result{ir.Accept, 0, -1, -1, -1}},
	{"dns tcp 53", []ir.Rule{accept(ir.Match{DNS: true})}, tcpTo("10.139.1.2", 53), Result{ir.Accept, 0, -1, -1, -1}},
	{"dns other port", []ir.Rule{accept(ir.Match{DNS: true})}, udpTo("10.139.1.1", 5353), Result{ir.Drop, -1, -1, -1, -1}},
	{"dns other server", []ir.Rule{accept(ir.Match{DNS: true})}, udpTo("1.1.1.1", 53), Result{ir.Drop, -1, -1, -1, -1}},
	{"dns is not icmp", []ir.Rule{accept(ir.Match{DNS: true})}, icmpTo("10.139.1.1", 8), Result{ir.Drop, -1, -1, -1, -1}},
	{"dns with ports other than 53 is skipped", []ir.Rule{accept(ir.Match{DNS: true, Proto: ir.UDP, HasPorts: true, Ports: ir.PortRange{First: 1, Last: 1024}})}, udpTo("10.139.1.1", 53), Result{ir.Drop, -1, -1, -1, -1}},
	{"dns udp only", []ir.Rule{accept(ir.Match{DNS: true, Proto: ir.UDP})}, tcpTo("10.139.1.1", 53), Result{ir.Drop, -1, -1, -1, -1}},
	{"no IPv6 DNS servers", []ir.Rule{accept(ir.Match{DNS: true})}, udpTo("2001:db8::53", 53), Result{ir.Drop, -1, -1, -1, -1}},

	// Host names, resolved per family when the list loads.
	{"name resolves to address", []ir.Rule{accept(to(host("example.org"), tcp(443)))}, tcpTo("192.0.2.10", 443), Result{ir.Accept, 0, -1, -1, -1}},
	{"name resolves in IPv6", []ir.Rule{accept(to(host("example.org"), tcp(443)))}, tcpTo("2001:db8::10", 443), Result{ir.Accept, 0, -1, -1, -1}},
	{"name, other address", []ir.Rule{accept(to(host("example.org"), tcp(443)))}, tcpTo("192.0.2.11", 443), Result{ir.Drop, -1, -1, -1, -1}},
	{"packet to the name", []ir.Rule{accept(to(host("example.org"), tcp(443)))}, Packet{Family: 4, Host: "example.org", Proto: ProtoTCP, Port: 443}, Result{ir.Accept, 0, -1, -1, -1}},
	{"A but no AAAA blocks IPv6", []ir.Rule{accept(to(host("v4only.test"), tcp(443))), accept(ir.Match{})}, tcpTo("2001:db8::1", 80), Result{ir.Drop, -1, 0, -1, -1}},
	{"A but no AAAA, IPv4 fine", []ir.Rule{accept(to(host("v4only.test"), tcp(443))), accept(ir.Match{})}, tcpTo("192.0.2.1", 80), Result{ir.Accept, 1, -1, -1, -1}},
	{"name without address blocks", []ir.Rule{accept(ir.Match{}), drop(to(host("nowhere.test"), ir.Match{}))}, tcpTo("192.0.2.1", 80), Result{ir.Drop, -1, 1, -1, -1}},

	// What depends on unknown names is possible, not exact: a rule to an
	// unknown name may match, and the name may not resolve, which would
	// block its family.
	{"unknown name may drop", []ir.Rule{drop(to(host("unknown.test"), ir.Match{})), accept(ir.Match{})}, tcpTo("192.0.2.1", 80), Result{ir.Accept, 1, -1, 0, 0}},
	{"unknown name, same action, may still block", []ir.Rule{accept(to(host("unknown.test"), ir.Match{})), accept(ir.Match{})}, tcpTo("192.0.2.1", 80), Result{ir.Accept, 1, -1, -1, 0}},
	{"unknown name may accept", []ir.Rule{accept(to(host("unknown.test"), ir.Match{}))}, tcpTo("192.0.2.1", 80), Result{ir.Drop, -1, -1, 0, -1}},
	{"unknown address, prefix may match", []ir.Rule{drop(to(pfx("10.0.0.0/8"), ir.Match{})), accept(to(host("unknown.test"), ir.Match{}))}, Packet{Family: 4, Host: "unknown.test", Proto: ProtoTCP, Port: 80}, Result{ir.Accept, 1, -1, 0, 1}},
	{"unknown address, other protocol", []ir.Rule{drop(to(pfx("10.0.0.0/8"), tcp(22))), accept(to(host("unknown.test"), ir.Match{}))}, Packet{Family: 4, Host: "unknown.test", Proto: ProtoTCP, Port: 80}, Result{ir.Accept, 1, -1, -1, 1}},
	{"unknown address, the whole family", []ir.Rule{accept(to(pfx("0.0.0.0/0"), ir.Match{Proto: ir.ICMP, HasICMPType: true, ICMPType: 8}))}, Packet{Family: 4, Host: "unknown.test", Proto: ProtoICMP, ICMPType: 8}, Result{ir.Accept, 0, -1, -1, -1}},
	{"unknown address, no IPv6 DNS servers", []ir.Rule{accept(ir.Match{DNS: true})}, Packet{Family: 6, Host: "unknown.test", Proto: ProtoUDP, Port: 53}, Result{ir.Drop, -1, -1, -1, -1}},
	{"an unknown name may block the family", []ir.Rule{accept(tcp(443)), accept(to(host("unknown.test"), tcp(8443)))}, tcpTo("2001:db8::1", 443), Result{ir.Accept, 0, -1, -1, 1}},
	{"an unknown name cannot make a drop worse", []ir.Rule{accept(to(host("unknown.test"), tcp(8443)))}, tcpTo("2001:db8::1", 443), Result{ir.Drop, -1, -1, -1, -1}},

	// DNS and a destination, ANDed.
	{"dns and a prefix with the server", []ir.Rule{accept(ir.Match{DNS: true, Dst: pfx("10.139.1.0/24")})}, udpTo("10.139.1.1", 53), Result{ir.Accept, 0, -1, -1, -1}},
	{"dns and a prefix without it", []ir.Rule{accept(ir.Match{DNS: true, Dst: pfx("192.0.2.0/24")})}, udpTo("10.139.1.1", 53), Result{ir.Drop, -1, -1, -1, -1}},
}

// nftablesTests are the rows where qfw's nftables backend reads a rule as
// it says, and the Linux agent does not.
var nftablesTests = []evalTest{
	{"dns with a range including 53", []ir.Rule{accept(ir.Match{DNS: true, Proto: ir.UDP, HasPorts: true, Ports: ir.PortRange{First: 1, Last: 1024}})}, udpTo("10.139.1.1", 53), Result{ir.Accept, 0, -1, -1, -1}},
	{"dns with a range without 53", []ir.Rule{accept(ir.Match{DNS: true, Proto: ir.UDP, HasPorts: true, Ports: ir.PortRange{First: 1, Last: 52}})}, udpTo("10.139.1.1", 53), Result{ir.Drop, -1, -1, -1, -1}},
	{"dns over icmp matches nothing", []ir.Rule{accept(ir.Match{DNS: true, Proto: ir.ICMP}), accept(ir.Match{})}, udpTo("10.139.1.1", 53), Result{ir.Accept, 1, -1, -1, -1}},
	{"an ICMP type is its ICMPv6 counterpart in IPv6", []ir.Rule{accept(ir.Match{Proto: ir.ICMP, HasICMPType: true, ICMPType: 8})}, icmpTo("2001:db8::1", 128), Result{ir.Accept, 0, -1, -1, -1}},
	{"not the same number", []ir.Rule{accept(ir.Match{Proto: ir.ICMP, HasICMPType: true, ICMPType: 8})}, icmpTo("2001:db8::1", 8), Result{ir.Drop, -1, -1, -1, -1}},
	{"no counterpart, no match", []ir.Rule{accept(ir.Match{Proto: ir.ICMP, HasICMPType: true, ICMPType: 5})}, icmpTo("2001:db8::1", 5), Result{ir.Drop, -1, -1, -1, -1}},
	{"to an IPv6 prefix, an ICMPv6 type", []ir.Rule{accept(to(pfx("::/0"), ir.Match{Proto: ir.ICMP, HasICMPType: true, ICMPType: 128}))}, icmpTo("2001:db8::1", 128), Result{ir.Accept, 0, -1, -1, -1}},

	// Beside a host name an ICMP type is the number in each family, as
	// the agent reads it: ICMPv6 type 8 in IPv6, not echo request.
	{"to a name, the number in IPv6", []ir.Rule{accept(to(host("example.org"), ir.Match{Proto: ir.ICMP, HasICMPType: true, ICMPType: 8}))}, icmpTo("2001:db8::10", 8), Result{ir.Accept, 0, -1, -1, -1}},
	{"to a name, not the counterpart", []ir.Rule{accept(to(host("example.org"), ir.Match{Proto: ir.ICMP, HasICMPType: true, ICMPType: 8}))}, icmpTo("2001:db8::10", 128), Result{ir.Drop, -1, -1, -1, -1}},
	{"to a name, a type without counterpart", []ir.Rule{accept(to(host("example.org"), ir.Match{Proto: ir.ICMP, HasICMPType: true, ICMPType: 5}))}, icmpTo("2001:db8::10", 5), Result{ir.Accept, 0, -1, -1, -1}},
	{"to a name, the number in IPv4", []ir.Rule{accept(to(host("example.org"), ir.Match{Proto: ir.ICMP, HasICMPType: true, ICMPType: 8}))}, icmpTo("192.0.2.10", 8), Result{ir.Accept, 0, -1, -1, -1}},

	// An accept rule to a name without an address in the family matches
	// nothing, and the list stands; a drop rule's name keeps its last good
	// addresses, and without any blocks the family.
	{"A but no AAAA, the IPv6 list stands", []ir.Rule{accept(to(host("v4only.test"), tcp(443))), accept(ir.Match{})}, tcpTo("2001:db8::1", 80), Result{ir.Accept, 1, -1, -1, -1}},
	{"an accepted name without address matches nothing", []ir.Rule{accept(to(host("nowhere.test"), ir.Match{})), drop(ir.Match{})}, tcpTo("192.0.2.1", 80), Result{ir.Drop, 1, -1, -1, -1}},
	{"not even a packet to the name", []ir.Rule{accept(to(host("v4only.test"), tcp(443)))}, Packet{Family: 6, Host: "v4only.test", Proto: ProtoTCP, Port: 443}, Result{ir.Drop, -1, -1, -1, -1}},
	{"a denied name without address blocks", []ir.Rule{accept(ir.Match{}), drop(to(host("nowhere.test"), ir.Match{}))}, tcpTo("192.0.2.1", 80), Result{ir.Drop, -1, 1, -1, -1}},
	{"a denied name without AAAA blocks IPv6", []ir.Rule{drop(to(host("v4only.test"), tcp(443))), accept(ir.Match{})}, tcpTo("2001:db8::1", 80), Result{ir.Drop, -1, 0, -1, -1}},
	{"a denied name that fails keeps its last addresses", []ir.Rule{drop(to(host("failing.test"), ir.Match{})), accept(ir.Match{})}, tcpTo("192.0.2.30", 80), Result{ir.Drop, 0, -1, -1, -1}},
	{"a denied name that fails, other address", []ir.Rule{drop(to(host("failing.test"), ir.Match{})), accept(ir.Match{})}, tcpTo("2001:db8::31", 80), Result{ir.Accept, 1, -1, -1, -1}},
	{"an accepted name that fails allows nothing", []ir.Rule{accept(to(host("failing.test"), tcp(443)))}, tcpTo("192.0.2.30", 443), Result{ir.Drop, -1, -1, -1, -1}},
	{"an unknown accepted name cannot block", []ir.Rule{accept(tcp(443)), accept(to(host("unknown.test"), tcp(8443)))}, tcpTo("2001:db8::1", 443), Result{ir.Accept, 0, -1, -1, -1}},
	{"an unknown denied name may block", []ir.Rule{accept(tcp(443)), drop(to(host("unknown.test"), tcp(8443)))}, tcpTo("2001:db8::1", 443), Result{ir.Accept, 0, -1, -1, 1}},
}

// TestEvalDNSUnknown: in a firewall qube without a netvm, a query to the
// virtual DNS servers meets the rules with the upstream server's address,
// which qfw does not know.
func TestEvalDNSUnknown(t *testing.T) {
	rules := []ir.Rule{drop(to(pfx("10.139.1.0/24"), ir.Match{})), accept(ir.Match{})}
	e := New(rules, nil, Options{DNSUnknown: true})
	for _, tt := range []struct {
		p    Packet
		want Result
	}{
		{udpTo("10.139.1.1", 53), Result{ir.Accept, 1, -1, 0, -1}},
		{udpTo("10.139.1.1", 54), Result{ir.Drop, 0, -1, -1, -1}},
		{udpTo("10.139.1.3", 53), Result{ir.Drop, 0, -1, -1, -1}},
	} {
		if got := e.Eval(tt.p); got != tt.want {
			t.Errorf("Eval(%+v) = %+v; want %+v", tt.p, got, tt.want)
		}
	}
	dnsRule := New([]ir.Rule{accept(ir.Match{DNS: true})}, nil, Options{DNSUnknown: true})
	if got, want := dnsRule.Eval(udpTo("10.139.1.1", 53)), (Result{ir.Drop, -1, -1, 0, -1}); got != want {
		t.Errorf("DNS rule, unknown servers: Eval = %+v; want %+v", got, want)
	}
}

func TestEvalNftables(t *testing.T) {
	for _, tt := range nftablesTests {
		t.Run(tt.name, func(t *testing.T) {
			e := newForTestSemantics(tt.rules, Nftables)
			if got := e.Eval(tt.packet); got != tt.want {
				t.Errorf("Eval(%+v) = %+v; want %+v", tt.packet, got, tt.want)
			}
		})
	}
}

func TestEval(t *testing.T) {
	for _, tt := range evalTests {
		t.Run(tt.name, func(t *testing.T) {
			e := newForTest(tt.rules)
			if got := e.Eval(tt.packet); got != tt.want {
				t.Errorf("Eval(%+v) = %+v; want %+v", tt.packet, got, tt.want)
			}
		})
	}
}

// newForTest splits rules into the families as dom0 does (prefix rules go
// to their family, the rest to both), with the Qubes DNS servers, for the
// Linux agent.
func newForTest(rules []ir.Rule) *Evaluator { return newForTestSemantics(rules, LinuxAgent) }

func newForTestSemantics(rules []ir.Rule, s Semantics) *Evaluator {
	var r4, r6 []ir.Rule
	for _, r := range rules {
		if f := r.Dst.Family(); f != 6 {
			r4 = append(r4, r)
		}
		if f := r.Dst.Family(); f != 4 {
			r6 = append(r6, r)
		}
	}
	var res Resolver = resolver
	if s == Nftables {
		res = keeping
	}
	return New(r4, r6, Options{Resolver: res, DNS4: QubesDNS(), Semantics: s})
}

func TestEvalNoAllocs(t *testing.T) {
	for _, s := range []struct {
		semantics Semantics
		tests     []evalTest
	}{{LinuxAgent, evalTests}, {Nftables, nftablesTests}} {
		for _, tt := range s.tests {
			e := newForTestSemantics(tt.rules, s.semantics)
			if n := testing.AllocsPerRun(100, func() { e.Eval(tt.packet) }); n != 0 {
				t.Errorf("%s: Eval allocates %v times per packet; want 0", tt.name, n)
			}
		}
	}
}

// TestEvalDNSOrder: the DNS servers match in whatever order they are
// given.
func TestEvalDNSOrder(t *testing.T) {
	servers := []netip.Addr{addr("192.0.2.53"), addr("10.139.1.1"), addr("10.139.1.2")}
	e := New([]ir.Rule{accept(ir.Match{DNS: true})}, nil, Options{DNS4: servers})
	for _, s := range servers {
		if got, want := e.Eval(udpTo(s.String(), 53)), (Result{ir.Accept, 0, -1, -1, -1}); got != want {
			t.Errorf("Eval(query to %s) = %+v; want %+v", s, got, want)
		}
	}
	if !slices.Equal(servers, []netip.Addr{addr("192.0.2.53"), addr("10.139.1.1"), addr("10.139.1.2")}) {
		t.Errorf("New sorted the caller's servers: %v", servers)
	}
}
