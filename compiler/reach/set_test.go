package reach

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/space"
)

// The brute-force check: on random lists, under every semantics, a set
// holds exactly the packets the reference evaluator accepts, tried on
// random packets and on every corner of every region.

// hosts are the names random rules use: pinned with addresses in both
// families, pinned with IPv4 only, pinned with none, and not pinned.
var hosts = []string{"both.test", "v4.test", "none.test", "unknown.test"}

var testResolver = eval.Table{
	"both.test": {netip.MustParseAddr("10.0.0.7"), netip.MustParseAddr("2001:db8::7")},
	"v4.test":   {netip.MustParseAddr("10.0.0.9")},
	"none.test": nil,
}

// randAddr returns an address in a small range of family, so that rules
// and packets meet: 10.0.0.0/28 or 2001:db8::/124, and the DNS servers.
func randAddr(r *rand.Rand, family int) netip.Addr {
	if family == 4 {
		if r.IntN(6) == 0 {
			return eval.QubesDNS()[r.IntN(2)]
		}
		return netip.AddrFrom4([4]byte{10, 0, 0, byte(r.IntN(16))})
	}
	a := netip.MustParseAddr("2001:db8::").As16()
	a[15] = byte(r.IntN(16))
	return netip.AddrFrom16(a)
}

func randRule(r *rand.Rand) ir.Rule {
	ru := ir.Rule{Action: ir.Accept}
	if r.IntN(2) == 0 {
		ru.Action = ir.Drop
	}
	switch r.IntN(6) {
	case 0, 1:
		fam := 4 + 2*r.IntN(2)
		bits := 28 + r.IntN(5)
		if fam == 6 {
			bits = 124 + r.IntN(5)
		}
		if r.IntN(8) == 0 {
			bits = 0
		}
		ru.Dst.Prefix = netip.PrefixFrom(randAddr(r, fam), bits).Masked()
	case 2:
		ru.Dst.Host = hosts[r.IntN(len(hosts))]
	}
	ru.Proto = ir.Proto(r.IntN(4))
	if r.IntN(4) == 0 {
		ru.DNS = true
		if ru.Proto == ir.ICMP && r.IntN(2) == 0 {
			ru.Proto = ir.AnyProto
		}
	}
	switch ru.Proto {
	case ir.TCP, ir.UDP:
		if r.IntN(2) == 0 {
			first := uint16(50 + r.IntN(8))
			ru.HasPorts, ru.Ports = true, ir.PortRange{First: first, Last: first + uint16(r.IntN(4))}
		}
	case ir.ICMP:
		if r.IntN(2) == 0 {
			ru.HasICMPType, ru.ICMPType = true, []uint8{0, 3, 8, 9, 128}[r.IntN(5)]
		}
	}
	return ru
}

func randInput(r *rand.Rand) *Input {
	var rules []ir.Rule
	for range r.IntN(8) {
		rules = append(rules, randRule(r))
	}
	in := &Input{Options: eval.Options{Semantics: eval.Semantics(r.IntN(3))}}
	if r.IntN(4) != 0 {
		in.Options.Resolver = testResolver
	}
	switch r.IntN(3) {
	case 0:
		in.Options.DNS4 = eval.QubesDNS()
	case 1:
		in.Options.DNSUnknown = true
	}
	if r.IntN(3) == 0 {
		in.Options.DNS6 = []netip.Addr{randAddr(r, 6)}
	}
	for _, f := range []int{4, 6} {
		if r.IntN(5) != 0 {
			in.Families = append(in.Families, f)
		}
		in.Lists[f/6] = ir.FamilyRules(rules, f, 0)
	}
	if in.Options.Semantics == eval.Mirage {
		in.Options.NoNames = r.IntN(4) == 0
		if r.IntN(2) == 0 {
			in.Options.Self = randAddr(r, 4)
			in.Options.GatewayDNS = r.IntN(2) == 0
		}
	}
	return in
}

// packetOf returns the packet at point b of a space of u.
func packetOf(u *Universe, b space.Box) eval.Packet {
	w := u.Where(b.Space)
	p := eval.Packet{Family: w.Family, Host: w.Name, ExtHeaders: w.Ext}
	if w.Name == "" {
		p.Dst = b.Lo.Addr(w.Family == 4)
	}
	switch b.Proto {
	case TCP:
		p.Proto, p.Port = eval.ProtoTCP, b.PLo
	case UDP:
		p.Proto, p.Port = eval.ProtoUDP, b.PLo
	case ICMP:
		p.Proto, p.ICMPType = eval.ProtoICMP, uint8(b.PLo)
		if w.Family == 6 {
			p.Proto = eval.ProtoICMPv6
		}
	default:
		p.Proto = 47
	}
	return p
}

// want returns the evaluator's verdict on p, sent by in's client.
func want(in *Input, e *eval.Evaluator, p eval.Packet) ir.Action {
	if in.NoNetvm || !slices.Contains(in.Families, p.IPFamily()) {
		return ir.Drop
	}
	return e.Eval(p).Action
}

func checkPoint(t *testing.T, s *Set, e *eval.Evaluator, pt space.Box) {
	t.Helper()
	reg := s.Lookup(pt)
	if reg == nil {
		t.Fatalf("no region holds %v", pt)
	}
	p := packetOf(s.Universe, pt)
	if w := want(s.Input, e, p); reg.Action != w {
		t.Fatalf("lists %v\noptions %+v\nfamilies %v\npacket %+v: set says %s by %+v; evaluator %s",
			s.Input.Lists, s.Input.Options, s.Input.Families, p, reg.Action, reg.Cause, w)
	}
}

func TestComputeBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 1))
	for round := range 3000 {
		in := randInput(r)
		u := NewUniverse(Names(in))
		s := Compute(u, in)
		e := eval.New(in.Lists[0], in.Lists[1], in.Options)
		checkPartition(t, s)
		for _, reg := range s.Regions {
			b := reg.Box
			for _, c := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				pt := b
				pt.Lo, pt.Hi, pt.PLo, pt.PHi = b.Lo, b.Lo, b.PLo, b.PLo
				if c[0] {
					pt.Lo, pt.Hi = b.Hi, b.Hi
				}
				if c[1] {
					pt.PLo, pt.PHi = b.PHi, b.PHi
				}
				checkPoint(t, s, e, pt)
			}
		}
		for range 50 {
			sp := r.IntN(u.Spaces())
			w := u.Where(sp)
			pt := space.Box{Space: sp, Proto: uint8(r.IntN(int(numProtos)))}
			if w.Name == "" {
				a := space.FromAddr(randAddr(r, w.Family))
				pt.Lo, pt.Hi = a, a
			}
			port := uint16(r.IntN(int(lastPort[pt.Proto]) + 1))
			if pt.Proto != Other && r.IntN(2) == 0 {
				port = uint16(50 + r.IntN(10))
			}
			pt.PLo, pt.PHi = port, port
			checkPoint(t, s, e, pt)
		}
		// The points where the firewall qube decides before or beside the
		// rules: the DNS servers and its own address, on port 53 and
		// beside it.
		special := append(slices.Clone(eval.QubesDNS()), in.Options.DNS6...)
		if in.Options.Self.IsValid() {
			special = append(special, in.Options.Self)
		}
		for _, a := range special {
			sp := SpaceIPv4
			if a.Is6() {
				sp = SpaceIPv6
			}
			at := space.FromAddr(a)
			for proto := range numProtos {
				for _, port := range []uint16{0, 52, 53, 54} {
					checkPoint(t, s, e, space.Box{Space: sp, Proto: proto, Lo: at, Hi: at, PLo: min(port, lastPort[proto]), PHi: min(port, lastPort[proto])})
				}
			}
		}
		if t.Failed() {
			t.Fatalf("round %d", round)
		}
	}
}

// checkPartition checks that the regions of s are disjoint.
func checkPartition(t *testing.T, s *Set) {
	t.Helper()
	for i, a := range s.Regions {
		for _, b := range s.Regions[i+1:] {
			if a.Box.Intersects(b.Box) {
				t.Fatalf("regions %v and %v intersect", a, b)
			}
		}
	}
}

// BenchmarkDiff measures what diff does for one changed qube of 20 rules
// per family: both sets, their difference and its summary.
func BenchmarkDiff(b *testing.B) {
	r := rand.New(rand.NewPCG(14, 5))
	var rules []ir.Rule
	for len(rules) < 20 {
		rules = append(rules, randRule(r))
	}
	in := func(rules []ir.Rule) *Input {
		return &Input{Lists: [2][]ir.Rule{ir.FamilyRules(rules, 4, 0), ir.FamilyRules(rules, 6, 0)}, Families: []int{4, 6},
			Options: eval.Options{DNS4: eval.QubesDNS(), Resolver: testResolver}}
	}
	changed := slices.Clone(rules)
	changed[10] = randRule(r)
	a, c := in(rules), in(changed)
	b.ReportAllocs()
	for b.Loop() {
		u := NewUniverse(append(Names(a), Names(c)...))
		sa, sc := Compute(u, a), Compute(u, c)
		Summarise(u, sa, sc, Diff(sa, sc))
	}
}
