package query

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/reach"
	"github.com/qfw-dev/qfw/policytest"
)

// The check of explain's and who-can-reach's answers: on random lists
// behind each backend and random destinations as a user writes them, every
// packet asked about is in exactly one part, whose verdict is the
// evaluator's, and whose rule lines include the one the evaluator names.

func randPartsRule(r *rand.Rand) ir.Rule {
	ru := ir.Rule{Action: ir.Accept, Origin: ir.Origin{Kind: ir.Allow, Name: fmt.Sprint("r", r.IntN(1000))}}
	if r.IntN(2) == 0 {
		ru.Action, ru.Origin.Kind = ir.Drop, ir.Deny
	}
	switch r.IntN(3) {
	case 0:
		ru.Dst.Prefix = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(r.IntN(16))}), 28+r.IntN(5)).Masked()
	case 1:
		a := netip.MustParseAddr("2001:db8::").As16()
		a[15] = byte(r.IntN(16))
		ru.Dst.Prefix = netip.PrefixFrom(netip.AddrFrom16(a), 124+r.IntN(5)).Masked()
	}
	ru.Proto = ir.Proto(r.IntN(4))
	switch ru.Proto {
	case ir.TCP, ir.UDP:
		if r.IntN(2) == 0 {
			first := uint16(50 + r.IntN(8))
			ru.HasPorts, ru.Ports = true, ir.PortRange{First: first, Last: first + uint16(r.IntN(4))}
		}
	case ir.ICMP:
		if r.IntN(2) == 0 {
			ru.HasICMPType, ru.ICMPType = true, []uint8{0, 3, 8}[r.IntN(3)]
		}
	}
	return ru
}

// randPartsDest returns a destination as a user writes it: a prefix or a
// range in the rules' addresses, or one of them with every protocol.
func randPartsDest(r *rand.Rand) string {
	v6 := r.IntN(2) == 0
	addr := func() string {
		if v6 {
			return fmt.Sprintf("2001:db8::%x", r.IntN(16))
		}
		return fmt.Sprintf("10.0.0.%d", r.IntN(16))
	}
	var host string
	switch r.IntN(3) {
	case 0:
		p := netip.MustParsePrefix(addr() + "/" + fmt.Sprint(map[bool]int{false: 28, true: 124}[v6]+r.IntN(3)))
		host = p.Masked().String()
	case 1:
		a, b := netip.MustParseAddr(addr()), netip.MustParseAddr(addr())
		if b.Less(a) {
			a, b = b, a
		}
		host = a.String() + "-" + b.String()
	default:
		return addr() + "/any"
	}
	switch r.IntN(5) {
	case 0:
		if v6 {
			host = "[" + host + "]"
		}
		return fmt.Sprintf("%s:%d/%s", host, 50+r.IntN(12), []string{"tcp", "udp"}[r.IntN(2)])
	case 1:
		return host + "/" + []string{"tcp", "udp", "icmp"}[r.IntN(3)]
	}
	return host
}

// partHolds reports whether line l holds packet p, of the address space
// of family.
func partHolds(l *reach.Line, p eval.Packet, proto uint8, port uint16) bool {
	inServices := func(ss []reach.Service) bool {
		return slices.ContainsFunc(ss, func(s reach.Service) bool {
			return s.Proto == proto && slices.ContainsFunc(s.Ranges, func(pr ir.PortRange) bool { return pr.Contains(port) })
		})
	}
	excepted := func(ps []netip.Prefix) bool {
		return slices.ContainsFunc(ps, func(e netip.Prefix) bool { return e.Contains(p.Dst) })
	}
	inDests := func(d reach.Dests) bool {
		if d.Any {
			return !excepted(d.Except)
		}
		return slices.ContainsFunc(d.Prefixes, func(pf netip.Prefix) bool {
			return pf.Contains(p.Dst) && !excepted(d.Except)
		})
	}
	return inServices(l.Services) && inDests(l.Dests) &&
		!slices.ContainsFunc(l.Except, func(e reach.Part) bool { return inServices(e.Services) && inDests(e.Dests) })
}

func TestPartsAgreeWithEvaluator(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 3))
	for round := range 1500 {
		var rules []ir.Rule
		for range r.IntN(8) {
			rules = append(rules, randPartsRule(r))
		}
		q := ir.Qube{Name: "work", Netvm: "fw", IP: netip.MustParseAddr("10.137.0.11"), Rules: rules}
		if r.IntN(3) != 0 {
			q.IP6 = netip.MustParseAddr("fd09:24ef:4179::a89:b")
		}
		prog := &ir.Program{Qubes: []ir.Qube{q}, Firewalls: []ir.Firewall{{Name: "fw", Backend: ir.Backend(r.IntN(3)), Netvm: "net"}}}
		text := randPartsDest(r)
		d, err := ParseDest(text)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		ask := Question{Text: text, Dest: d}
		if d.proto == ir.ICMP && r.IntN(2) == 0 {
			ask.HasICMPType, ask.ICMPType = true, []uint8{0, 3, 8}[r.IntN(3)]
		}
		qs, err := ask.queries(eval.Table(nil))
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		es := policytest.Enforcers(prog, &prog.Qubes[0], eval.Table(nil), 0, nil)
		e := &es[0]
		a := answerFor(e, qs)
		for range 30 {
			qu := qs[r.IntN(len(qs))]
			b := qu.Boxes()[r.IntN(len(qu.Boxes()))]
			lo, hi := qu.First.As16(), qu.Last.As16()
			dst := qu.First
			if span := int(hi[15]) - int(lo[15]); span > 0 {
				as := lo
				as[15] += byte(r.IntN(span + 1))
				dst = netip.AddrFrom16(as)
				if qu.First.Is4() {
					dst = dst.Unmap()
				}
			}
			port := b.PLo + uint16(r.IntN(int(b.PHi-b.PLo)+1))
			if b.PHi-b.PLo > 100 {
				port = []uint16{b.PLo, 0, 3, 8, 50, 53, 55, 57, 60, b.PHi}[r.IntN(10)]
				port = max(b.PLo, min(port, b.PHi))
			}
			p := eval.Packet{Dst: dst}
			switch b.Proto {
			case reach.TCP:
				p.Proto, p.Port = eval.ProtoTCP, port
			case reach.UDP:
				p.Proto, p.Port = eval.ProtoUDP, port
			case reach.ICMP:
				p.Proto, p.ICMPType = eval.ProtoICMP, uint8(port)
				if dst.Is6() {
					p.Proto = eval.ProtoICMPv6
				}
			default:
				p.Proto = 47
			}
			if next := int(d.port) + 1; d.port != 0 || ask.HasICMPType {
				// The next port or type is not asked about: no part holds it.
				if ask.HasICMPType {
					next = int(ask.ICMPType) + 1
				}
				for i := range a.lines {
					if b.Proto != reach.Other && partHolds(&a.lines[i], p, b.Proto, uint16(next)) {
						t.Fatalf("round %d: %q: port or type %d is not asked about, but part %q holds it", round, text, next, a.lines[i].String())
					}
				}
			}
			var held []*reach.Line
			for i := range a.lines {
				if partHolds(&a.lines[i], p, b.Proto, port) {
					held = append(held, &a.lines[i])
				}
			}
			if len(held) != 1 {
				t.Fatalf("round %d: %q: packet %+v is in %d parts, not 1", round, text, p, len(held))
			}
			verdict, _ := verdictOf(held[0])
			want, rule := ir.Drop, ""
			if slices.Contains(e.Families, p.IPFamily()) {
				res := e.Eval(p)
				want = res.Action
				if res.Rule >= 0 && res.Blocked < 0 {
					rule = enforcedLine(e, e.List(p.IPFamily())[res.Rule])
				}
			}
			if verdict != want {
				t.Fatalf("round %d: %q, rules %v: packet %+v: part %q says %s; evaluator %s", round, text, rules, p, held[0].String(), verdict, want)
			}
			if rule != "" && !slices.Contains(a.enforced(held[0]), rule) {
				t.Fatalf("round %d: %q: packet %+v: part %q names %q; evaluator %q", round, text, p, held[0].String(), a.enforced(held[0]), rule)
			}
		}
	}
}
