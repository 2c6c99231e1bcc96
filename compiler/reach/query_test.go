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

// The check of queries: on random lists and random questions, the lines
// that Summarise makes of Fates hold every packet asked about exactly
// once, each with the evaluator's verdict and deciding rule, and no packet
// outside the question.

// randQuery returns a stretch of the test addresses of a family, some
// protocol classes and maybe one port or type.
func randQuery(r *rand.Rand) Query {
	fam := 4 + 2*r.IntN(2)
	a, b := randAddr(r, fam), randAddr(r, fam)
	if b.Less(a) {
		a, b = b, a
	}
	q := Query{First: a, Last: b, Ext: fam == 6 && r.IntN(3) == 0}
	for p := range numProtos {
		if r.IntN(2) == 0 {
			q.Protos = append(q.Protos, p)
		}
	}
	if r.IntN(2) == 0 {
		port := uint16([]int{0, 3, 8, 53, 54, 128}[r.IntN(6)])
		q.Ports = &ir.PortRange{First: port, Last: port}
	}
	return q
}

// holds reports whether line l holds the packet at point pt, of an
// address space of u.
func holds(u *Universe, l *Line, pt space.Box) bool {
	w := u.Where(pt.Space)
	addr := pt.Lo.Addr(w.Family == 4)
	inServices := func(ss []Service) bool {
		return slices.ContainsFunc(ss, func(s Service) bool {
			if s.Proto != pt.Proto || s.Headers != AnyHeaders {
				return false
			}
			return slices.ContainsFunc(s.Ranges, func(pr ir.PortRange) bool { return pr.Contains(pt.PLo) })
		})
	}
	excepted := func(ps []netip.Prefix) bool {
		return slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Contains(addr) })
	}
	inDests := func(d Dests) bool {
		if d.Any {
			return !excepted(d.Except)
		}
		return slices.ContainsFunc(d.Prefixes, func(p netip.Prefix) bool {
			return p.Contains(addr) && !excepted(d.Except)
		})
	}
	if !inServices(l.Services) || !inDests(l.Dests) {
		return false
	}
	return !slices.ContainsFunc(l.Except, func(p Part) bool { return inServices(p.Services) && inDests(p.Dests) })
}

func TestQueryAgreesWithEvaluator(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 2))
	// The packets asked about, and those of them accepted: the check
	// would hold of lines that hold nothing if no packet were asked
	// about, or of lines that say drop if none were accepted.
	nAsked, nAccepted := 0, 0
	for round := range 2000 {
		in := randInput(r)
		u := NewUniverse(Names(in))
		s := Compute(u, in)
		e := eval.New(in.Lists[0], in.Lists[1], in.Options)
		q := randQuery(r)
		boxes := q.Boxes()
		lines := SummariseFates(u, s, s.Fates(boxes))
		if !slices.IsSortedFunc(lines, compareLines) {
			t.Fatalf("round %d: lines not sorted", round)
		}
		for range 40 {
			// A packet inside the question, or beside it.
			var b space.Box
			if len(boxes) == 0 || r.IntN(4) == 0 {
				b = space.Box{Space: SpaceIPv4, Proto: uint8(r.IntN(int(numProtos))), Hi: space.Max32, PHi: 65535}
				if q.First.Is6() {
					b.Space, b.Hi = SpaceIPv6, space.Max128
					if q.Ext {
						b.Space = SpaceIPv6Ext
					}
				}
				b.PHi = min(b.PHi, lastPort[b.Proto])
			} else {
				b = boxes[r.IntN(len(boxes))]
			}
			w := u.Where(b.Space)
			a := space.FromAddr(randAddr(r, w.Family))
			port := b.PLo + uint16(r.IntN(int(b.PHi-b.PLo)+1))
			if b.PLo <= 53 && 53 <= b.PHi && r.IntN(3) == 0 {
				port = 53
			}
			pt := space.Box{Space: b.Space, Proto: b.Proto, Lo: a, Hi: a, PLo: port, PHi: port}
			asked := slices.ContainsFunc(boxes, pt.Intersects)
			var in []*Line
			for i := range lines {
				if holds(u, &lines[i], pt) {
					in = append(in, &lines[i])
				}
			}
			p := packetOf(u, pt)
			switch {
			case !asked && len(in) > 0:
				t.Fatalf("round %d: %+v is not asked about, but line %q holds it", round, p, in[0].String())
			case asked && len(in) != 1:
				t.Fatalf("round %d: query %+v: %+v is held by %d lines, not 1: %v", round, q, p, len(in), lines)
			case !asked:
				continue
			}
			l := in[0]
			verdict, why := ir.Drop, l.Base
			if l.Widened {
				verdict, why = ir.Accept, l.Head
				nAccepted++
			}
			nAsked++
			if w := want(s.Input, e, p); w != verdict {
				t.Fatalf("round %d: lists %v\noptions %+v\npacket %+v: line %q says %s; evaluator %s", round, in[0], s.Input.Options, p, l.String(), verdict, w)
			}
			if res := e.Eval(p); slices.Contains(s.Input.Families, p.IPFamily()) && res.Rule >= 0 && res.Blocked < 0 && why.Kind == ByRule {
				rule := s.Input.Lists[p.IPFamily()/6][res.Rule]
				if why.Rule.Action != rule.Action || why.Rule.Match != rule.Match {
					t.Fatalf("round %d: packet %+v: line %q names %s %s; evaluator %s %s", round, p, l.String(), why.Rule.Action, why.Rule.Match, rule.Action, rule.Match)
				}
			}
		}
	}
	if tried := 2000 * 40; nAsked < tried/10 || nAccepted < nAsked/20 {
		t.Errorf("%d of %d packets tried were asked about, %d of them accepted; want a tenth asked, a twentieth of those accepted", nAsked, tried, nAccepted)
	}
}
