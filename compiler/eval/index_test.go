package eval

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/space"
)

// TestIndexAgrees is the property that makes the index safe to use: on
// random lists of every kind of rule, under every semantics and option,
// and on packets at the corners of every rule (the first and last address
// of each prefix and the ones beside them, the ends of each port range and
// the ports beside them, each ICMP type and its neighbours, names,
// unknown and zoned addresses, extension headers), Eval with an index for
// every protocol gives the very Result of the walk over the list.
func TestIndexAgrees(t *testing.T) {
	lists, packets, reaching, indexed := 3000, 0, 0, 0
	if testing.Short() {
		lists = 300
	}
	for seed := range lists {
		g := newGen(uint64(seed))
		rules := g.rules()
		opts := g.options()
		var r4, r6 []ir.Rule
		if g.r.IntN(4) == 0 {
			// Lists as a caller may give them, each rule in both.
			r4, r6 = rules, rules
		} else {
			r4, r6 = ir.FamilyRules(rules, 4, 0), ir.FamilyRules(rules, 6, 0)
		}
		e := newIndexed(r4, r6, opts, 0)
		for _, p := range g.packets(rules, opts) {
			got, want := e.eval(p, true), e.eval(p, false)
			if got != want {
				t.Fatalf("seed %d: Eval(%+v) = %+v with the index; want %+v, as the walk gives\nrules4: %+v\nrules6: %+v\noptions: %+v",
					seed, p, got, want, r4, r6, opts)
			}
			packets++
			if got.Blocked < 0 {
				reaching++
			}
			if e.byIndex(p) {
				indexed++
			}
		}
	}
	// The property holds trivially if the index decides nothing. (Host
	// names without addresses block many lists, before any rule.)
	if indexed*2 < reaching {
		t.Errorf("the index decided %d of %d packets that reach the rules; want at least half", indexed, reaching)
	}
	t.Logf("%d lists, %d packets, %d reach the rules, %d decided by the index", lists, packets, reaching, indexed)
}

// byIndex reports whether Eval decides p with the index.
func (e *Evaluator) byIndex(p Packet) bool {
	f := &e.fams[0]
	if p.IPFamily() == 6 {
		f = &e.fams[1]
	}
	if p.IPFamily() != 4 && p.IPFamily() != 6 || f.blocked >= 0 || e.self.IsValid() && p.Dst == e.self {
		return false
	}
	_, ok := f.indexed(&p)
	return ok
}

// TestIndexTables runs the tables of the walk through the index.
func TestIndexTables(t *testing.T) {
	for _, s := range []struct {
		semantics Semantics
		tests     []evalTest
		res       Resolver
	}{{LinuxAgent, evalTests, resolver}, {Nftables, nftablesTests, keeping}} {
		for _, tt := range s.tests {
			var r4, r6 []ir.Rule
			r4, r6 = ir.FamilyRules(tt.rules, 4, 0), ir.FamilyRules(tt.rules, 6, 0)
			e := newIndexed(r4, r6, Options{Resolver: s.res, DNS4: QubesDNS(), Semantics: s.semantics}, 0)
			if got := e.Eval(tt.packet); got != tt.want {
				t.Errorf("%s: Eval(%+v) = %+v with the index; want %+v", tt.name, tt.packet, got, tt.want)
			}
			if n := testing.AllocsPerRun(10, func() { e.Eval(tt.packet) }); n != 0 {
				t.Errorf("%s: Eval allocates %v times per packet with the index; want 0", tt.name, n)
			}
		}
	}
}

// TestIndexFallsBack: where the index cannot be exact, there is none, and
// the walk decides.
func TestIndexFallsBack(t *testing.T) {
	web := accept(to(pfx("192.0.2.0/24"), tcp(443)))
	for _, tt := range []struct {
		name   string
		rules  []ir.Rule
		opts   Options
		packet Packet
		want   bool
	}{
		{"a known address", []ir.Rule{web}, Options{}, tcpTo("192.0.2.1", 443), true},
		{"an unknown address", []ir.Rule{web}, Options{}, Packet{Family: 4, Proto: ProtoTCP, Port: 443}, false},
		{"a host name", []ir.Rule{web}, Options{}, Packet{Dst: addr("192.0.2.1"), Host: "example.org", Proto: ProtoTCP, Port: 443}, false},
		{"a zoned address", []ir.Rule{accept(ir.Match{})}, Options{}, tcpTo("fe80::1%eth0", 443), false},
		{"a query forwarded upstream", []ir.Rule{web}, Options{DNSUnknown: true}, udpTo("10.139.1.1", 53), false},
		{"another query", []ir.Rule{web}, Options{DNSUnknown: true}, udpTo("192.0.2.1", 53), true},
		{"a port on icmp (dns over icmp)", []ir.Rule{accept(ir.Match{DNS: true, Proto: ir.ICMP})}, Options{DNS4: QubesDNS()}, icmpTo("10.139.1.1", 8), false},
		{"dns over icmp, other protocols", []ir.Rule{accept(ir.Match{DNS: true, Proto: ir.ICMP})}, Options{DNS4: QubesDNS()}, udpTo("10.139.1.1", 53), true},
		{"a type on tcp", []ir.Rule{accept(ir.Match{Proto: ir.TCP, HasICMPType: true, ICMPType: 3})}, Options{}, tcpTo("192.0.2.1", 443), false},
	} {
		e := newIndexed(tt.rules, tt.rules, tt.opts, 0)
		if got := e.byIndex(tt.packet); got != tt.want {
			t.Errorf("%s: decided by the index: %v; want %v", tt.name, got, tt.want)
		}
	}
	// A list too short to be worth an index is walked.
	if e := New([]ir.Rule{web}, nil, Options{}); e.byIndex(tcpTo("192.0.2.1", 443)) {
		t.Errorf("a list of one rule is indexed")
	}
	if e := New(slices.Repeat([]ir.Rule{web}, indexFrom), nil, Options{Linear: true}); e.byIndex(tcpTo("192.0.2.1", 443)) {
		t.Errorf("a list is indexed with Linear set")
	}
	if e := New(slices.Repeat([]ir.Rule{web}, indexFrom), nil, Options{}); !e.byIndex(tcpTo("192.0.2.1", 443)) {
		t.Errorf("a list of %d rules is not indexed", indexFrom)
	}
}

// TestIndexBudget: rules that cross in both dimensions make a partition
// quadratic in their number; over budget, there is no index.
func TestIndexBudget(t *testing.T) {
	var rules []ir.Rule
	for i := range 2000 {
		// A port to 10.0.0.0/8 and all ports but one to an address in it,
		// by turns: each address's row has a cell for every port before
		// it.
		if i%2 == 0 {
			rules = append(rules, drop(to(pfx("10.0.0.0/8"), tcp(uint16(i)))))
		} else {
			a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			m := ir.Match{Dst: ir.Dst{Prefix: netip.PrefixFrom(a, 32)}, Proto: ir.TCP, HasPorts: true, Ports: ir.PortRange{First: 0, Last: 65534}}
			rules = append(rules, accept(m))
		}
	}
	e := New(rules, nil, Options{})
	if x := e.fams[0].index[slotTCP]; x != nil {
		t.Errorf("an index of %d parts; want none", len(x.parts))
	}
	if got, want := e.Eval(tcpTo("10.0.0.1", 65535)), (Result{ir.Drop, -1, -1, -1, -1}); got != want {
		t.Errorf("walked: Eval = %+v; want %+v", got, want)
	}
	// Rules to every port and rules to every address, by turns, do not
	// multiply: they are in different groups.
	rules = rules[:0]
	for i := range 2000 {
		if i%2 == 0 {
			rules = append(rules, drop(tcp(uint16(i))))
		} else {
			a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			rules = append(rules, accept(ir.Match{Dst: ir.Dst{Prefix: netip.PrefixFrom(a, 32)}}))
		}
	}
	if x := New(rules, nil, Options{}).fams[0].index[slotTCP]; x == nil || len(x.parts) != 2 {
		t.Errorf("an index of %d parts; want two", parts(x))
	}
	// Addresses and ports to a prefix that holds them, by turns: in one
	// partition, each address's row would have a cell for every port
	// before it, so they are two.
	rules = rules[:0]
	for i := range 2000 {
		if i%2 == 0 {
			rules = append(rules, drop(to(pfx("10.0.0.0/8"), tcp(uint16(i)))))
		} else {
			a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			rules = append(rules, accept(ir.Match{Dst: ir.Dst{Prefix: netip.PrefixFrom(a, 32)}}))
		}
	}
	e = New(rules, nil, Options{})
	if x := e.fams[0].index[slotTCP]; x == nil || len(x.parts) != 2 {
		t.Errorf("an index of %d parts; want two", parts(x))
	}
	for _, p := range []Packet{tcpTo("10.0.3.231", 998), tcpTo("10.0.3.231", 1000), tcpTo("10.0.3.232", 998), tcpTo("11.0.0.0", 0)} {
		if got, want := e.Eval(p), e.eval(p, false); got != want {
			t.Errorf("Eval(%+v) = %+v; want %+v", p, got, want)
		}
	}
	// Few enough of them, and they are one.
	if x := newIndexed(rules[:10], nil, Options{}, 0).fams[0].index[slotTCP]; x == nil || len(x.parts) != 1 {
		t.Errorf("an index of %d parts; want one", parts(x))
	}
}

// parts returns the number of parts of x, -1 if there is no index.
func parts(x *slotIndex) int {
	if x == nil {
		return -1
	}
	return len(x.parts)
}

// gen makes random lists, options and packets from a seed.
type gen struct{ r *rand.Rand }

func newGen(seed uint64) gen { return gen{rand.New(rand.NewPCG(seed, 14))} }

func pick[T any](g gen, s []T) T { return s[g.r.IntN(len(s))] }

var (
	bases4 = []string{"0.0.0.0", "10.0.0.0", "10.0.1.0", "10.139.1.0", "192.0.2.0", "203.0.113.0", "255.255.255.0"}
	bases6 = []string{"::", "2001:db8::", "2001:db8:0:1::", "::ffff:10.0.0.0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00"}
	bits4  = []int{0, 1, 8, 16, 23, 24, 25, 30, 31, 32, 32}
	bits6  = []int{0, 1, 32, 48, 64, 96, 104, 120, 127, 128, 128}
	ports  = []uint16{0, 1, 22, 52, 53, 54, 80, 443, 1000, 8080, 65534, 65535}
	types  = []uint8{0, 1, 3, 4, 5, 8, 11, 12, 128, 129, 255}
	names  = []string{"a.test", "v4.test", "none.test", "unknown.test", "failing.test", "zone.test"}
	protos = []uint8{0, ProtoICMP, ProtoTCP, ProtoUDP, ProtoICMPv6, 47}
)

// names resolve in the table as their names say; failing.test, for the
// nftables backend, resolved to addresses before.
var genTable = lastGood{
	Table: Table{
		"a.test":       {addr("10.0.0.5"), addr("10.0.0.6"), addr("192.0.2.1"), addr("2001:db8::5"), addr("::ffff:10.0.0.5")},
		"v4.test":      {addr("203.0.113.9")},
		"none.test":    {},
		"failing.test": {},
		"zone.test":    {addr("fe80::1%eth0"), addr("2001:db8::7")},
	},
	last: Table{"failing.test": {addr("10.0.1.1"), addr("2001:db8::1")}},
}

// address returns a random address near the bases of the family.
func (g gen) address(family int) netip.Addr {
	if family == 4 {
		b := netip.MustParseAddr(pick(g, bases4)).As4()
		b[3] += byte(g.r.IntN(8))
		if g.r.IntN(4) == 0 {
			b[2] += byte(g.r.IntN(3))
		}
		return netip.AddrFrom4(b)
	}
	b := netip.MustParseAddr(pick(g, bases6)).As16()
	b[15] += byte(g.r.IntN(8))
	if g.r.IntN(4) == 0 {
		b[7] += byte(g.r.IntN(3))
	}
	return netip.AddrFrom16(b)
}

func (g gen) prefix() netip.Prefix {
	if g.r.IntN(2) == 0 {
		p := netip.PrefixFrom(g.address(4), pick(g, bits4))
		if g.r.IntN(2) == 0 {
			p = p.Masked()
		}
		return p
	}
	p := netip.PrefixFrom(g.address(6), pick(g, bits6))
	if g.r.IntN(2) == 0 {
		p = p.Masked()
	}
	return p
}

func (g gen) rules() []ir.Rule {
	n := g.r.IntN(40)
	if g.r.IntN(20) == 0 {
		// A long list, whose rules overlap many times over.
		n = 100 + g.r.IntN(300)
	}
	rules := make([]ir.Rule, n)
	for i := range rules {
		r := &rules[i]
		r.Action = ir.Accept
		if g.r.IntN(2) == 0 {
			r.Action = ir.Drop
		}
		switch g.r.IntN(10) {
		case 0, 1, 2, 3:
			r.Dst.Prefix = g.prefix()
		case 4, 5:
			r.Dst.Host = pick(g, names)
		}
		r.Proto = ir.Proto(g.r.IntN(4))
		r.DNS = g.r.IntN(7) == 0
		switch {
		case (r.Proto == ir.TCP || r.Proto == ir.UDP) && g.r.IntN(5) < 3, g.r.IntN(40) == 0:
			r.HasPorts = true
			r.Ports = ir.PortRange{First: pick(g, ports), Last: pick(g, ports)}
			if r.Ports.First > r.Ports.Last && g.r.IntN(8) != 0 {
				r.Ports.First, r.Ports.Last = r.Ports.Last, r.Ports.First
			}
			if g.r.IntN(3) == 0 {
				r.Ports.Last = r.Ports.First
			}
		case r.Proto == ir.ICMP && g.r.IntN(2) == 0, g.r.IntN(40) == 0:
			r.HasICMPType, r.ICMPType = true, pick(g, types)
		}
	}
	return rules
}

func (g gen) options() Options {
	var o Options
	o.Semantics = Semantics(g.r.IntN(3))
	switch g.r.IntN(4) {
	case 0:
		o.Resolver = genTable.Table
	case 1, 2:
		o.Resolver = genTable
	}
	switch g.r.IntN(4) {
	case 0:
		o.DNS4 = QubesDNS()
	case 1:
		o.DNS4 = []netip.Addr{addr("10.139.1.2"), addr("192.0.2.1"), addr("10.139.1.1"), addr("2001:db8::53")}
	case 2:
		o.DNS4 = []netip.Addr{addr("10.0.0.5")}
	}
	if g.r.IntN(2) == 0 {
		o.DNS6 = []netip.Addr{addr("2001:db8::53"), addr("::ffff:10.139.1.1")}
	}
	o.DNSUnknown = g.r.IntN(5) == 0
	o.NoNames = g.r.IntN(8) == 0
	if o.Semantics == Mirage && g.r.IntN(3) == 0 {
		o.Self, o.GatewayDNS = g.address(4), g.r.IntN(2) == 0
	}
	return o
}

// packets returns packets at the corners of rules, and random ones.
func (g gen) packets(rules []ir.Rule, opts Options) []Packet {
	var dsts []netip.Addr
	for _, r := range rules {
		if p := r.Dst.Prefix; p.IsValid() {
			lo, hi := space.PrefixRange(p)
			is4 := p.Addr().Is4()
			dsts = append(dsts, lo.Addr(is4), hi.Addr(is4), lo.Dec().Addr(is4), hi.Inc().Addr(is4))
		}
	}
	for _, addrs := range genTable.Table {
		dsts = append(dsts, addrs...)
	}
	dsts = append(dsts, opts.DNS4...)
	dsts = append(dsts, opts.DNS6...)
	dsts = append(dsts, QubesDNS()...)
	if opts.Self.IsValid() {
		dsts = append(dsts, opts.Self)
	}
	for range 8 {
		dsts = append(dsts, g.address(4), g.address(6))
	}
	portsHere, typesHere := slices.Clone(ports), slices.Clone(types)
	for _, r := range rules {
		if r.HasPorts {
			portsHere = append(portsHere, r.Ports.First-1, r.Ports.First, r.Ports.Last, r.Ports.Last+1)
		}
		if r.HasICMPType {
			typesHere = append(typesHere, r.ICMPType-1, r.ICMPType, r.ICMPType+1)
			if t, ok := ICMPv6For(r.ICMPType); ok {
				typesHere = append(typesHere, t)
			}
		}
	}
	var out []Packet
	for range 150 {
		p := Packet{Dst: pick(g, dsts), Proto: pick(g, protos), ExtHeaders: g.r.IntN(4) == 0}
		switch p.Proto {
		case ProtoTCP, ProtoUDP:
			p.Port = pick(g, portsHere)
		case ProtoICMP, ProtoICMPv6:
			p.ICMPType = pick(g, typesHere)
		}
		if g.r.IntN(10) == 0 {
			// A field that the protocol does not have.
			p.Port, p.ICMPType = pick(g, portsHere), pick(g, typesHere)
		}
		switch g.r.IntN(12) {
		case 0:
			p.Host = pick(g, names)
		case 1:
			p.Family, p.Dst = 4+2*g.r.IntN(2), netip.Addr{}
			if g.r.IntN(2) == 0 {
				p.Host = pick(g, names)
			}
		case 2:
			if p.Dst.Zone() != "" {
				p.Dst = p.Dst.WithZone("")
			} else if p.Dst.Is6() {
				p.Dst = p.Dst.WithZone("eth0")
			}
		case 3:
			if p.Dst.Is4() {
				p.Dst = netip.AddrFrom16(p.Dst.As16())
			}
		}
		out = append(out, p)
	}
	return out
}
