package reach

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/space"
)

// inLine reports whether line l speaks of the packet at point pt of u.
func inLine(u *Universe, l *Line, pt space.Box) bool {
	if !inPart(u, l.Dests, l.Services, pt) {
		return false
	}
	for _, p := range l.Except {
		if inPart(u, p.Dests, p.Services, pt) {
			return false
		}
	}
	return true
}

func inPart(u *Universe, d Dests, services []Service, pt space.Box) bool {
	l := &Line{Dests: d, Services: services}
	w := u.Where(pt.Space)
	dst := l.Dests.Any
	if w.Name == "" {
		a := pt.Lo.Addr(w.Family == 4)
		for _, p := range l.Dests.Prefixes {
			dst = dst || p.Contains(a)
		}
		for _, p := range l.Dests.Except {
			dst = dst && !p.Contains(a)
		}
	} else {
		dst = dst || slices.Contains(l.Dests.Names, Name{w.Name, 0}) || slices.Contains(l.Dests.Names, Name{w.Name, w.Family})
	}
	if !dst {
		return false
	}
	for _, s := range l.Services {
		if s.Proto != pt.Proto || s.Headers == NoExtHeaders && w.Ext || s.Headers == ExtHeaders && !w.Ext {
			continue
		}
		for _, r := range s.Ranges {
			if r.Contains(pt.PLo) {
				return true
			}
		}
	}
	return false
}

// points returns the points to try in u for sets: every corner of every
// region, the DNS servers and the unikernel's address, and random points.
func points(r *rand.Rand, u *Universe, sets ...*Set) []space.Box {
	var out []space.Box
	for _, s := range sets {
		for _, reg := range s.Regions {
			b := reg.Box
			for _, lo := range []space.U128{b.Lo, b.Hi} {
				for _, p := range []uint16{b.PLo, b.PHi} {
					out = append(out, space.Box{Space: b.Space, Proto: b.Proto, Lo: lo, Hi: lo, PLo: p, PHi: p})
				}
			}
		}
		special := append(slices.Clone(eval.QubesDNS()), s.Input.Options.DNS6...)
		if s.Input.Options.Self.IsValid() {
			special = append(special, s.Input.Options.Self)
		}
		for _, a := range special {
			sp := SpaceIPv4
			if a.Is6() {
				sp = SpaceIPv6
			}
			at := space.FromAddr(a)
			for proto := range numProtos {
				for _, port := range []uint16{0, 52, 53, 54} {
					out = append(out, space.Box{Space: sp, Proto: proto, Lo: at, Hi: at, PLo: min(port, lastPort[proto]), PHi: min(port, lastPort[proto])})
				}
			}
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
		out = append(out, pt)
	}
	return out
}

// TestSummaryAccepted checks that the summary of what a set accepts holds
// exactly the packets the evaluator accepts.
func TestSummaryAccepted(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 2))
	for round := range 2000 {
		in := randInput(r)
		u := NewUniverse(Names(in))
		s := Compute(u, in)
		lines := Summarise(u, nil, s, s.Accepted())
		e := eval.New(in.Lists[0], in.Lists[1], in.Options)
		for _, pt := range points(r, u, s) {
			got := false
			for i := range lines {
				got = got || inLine(u, &lines[i], pt)
			}
			if w := want(in, e, packetOf(u, pt)); got != (w == ir.Accept) {
				t.Fatalf("round %d: lists %v\noptions %+v\npacket %+v: summary says accepted %v; evaluator %s\nlines %v",
					round, in.Lists, in.Options, packetOf(u, pt), got, w, lines)
			}
		}
	}
}

// TestSummaryDiff checks that the summary of the difference of two sets
// holds exactly the packets whose verdict the evaluator changes, each in
// its direction, and every line the rules that decide its packets.
func TestSummaryDiff(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 3))
	for round := range 2000 {
		a, b := randInput(r), randInput(r)
		if r.IntN(2) == 0 {
			// Mostly the same lists, as a change to a policy is.
			b.Lists = [2][]ir.Rule{slices.Clone(a.Lists[0]), slices.Clone(a.Lists[1])}
			b.Families = a.Families
			for i := range b.Lists {
				if len(b.Lists[i]) > 0 {
					nr := randRule(r)
					for f := nr.Dst.Family(); f != 0 && f != 4+2*i; f = nr.Dst.Family() {
						nr = randRule(r)
					}
					b.Lists[i][r.IntN(len(b.Lists[i]))] = nr
				}
			}
		}
		u := NewUniverse(append(Names(a), Names(b)...))
		sa, sb := Compute(u, a), Compute(u, b)
		lines := Summarise(u, sa, sb, Diff(sa, sb))
		ea := eval.New(a.Lists[0], a.Lists[1], a.Options)
		eb := eval.New(b.Lists[0], b.Lists[1], b.Options)
		for _, pt := range points(r, u, sa, sb) {
			p := packetOf(u, pt)
			wa, wb := want(a, ea, p), want(b, eb, p)
			var in []*Line
			for i := range lines {
				if inLine(u, &lines[i], pt) {
					in = append(in, &lines[i])
				}
			}
			switch {
			case wa == wb && len(in) > 0:
				t.Fatalf("round %d: packet %+v: %s in both, but the summary says it changed: %v", round, p, wa, *in[0])
			case wa != wb && len(in) != 1:
				t.Fatalf("round %d: packet %+v: %s, then %s; the summary has %d lines of it:\n%v", round, p, wa, wb, len(in), lines)
			case wa != wb && in[0].Widened != (wb == ir.Accept):
				t.Fatalf("round %d: packet %+v: %s, then %s; the summary says widened %v", round, p, wa, wb, in[0].Widened)
			}
			if len(in) == 1 {
				checkReason(t, sa, pt, in[0].Base)
				checkReason(t, sb, pt, in[0].Head)
			}
		}
	}
}

// checkReason checks that reason r is what decides the packet at pt in s.
func checkReason(t *testing.T, s *Set, pt space.Box, r Reason) {
	t.Helper()
	reg := s.Lookup(pt)
	if got := reason(s, reg.Cause); got.key() != r.key() {
		t.Fatalf("packet at %v: the summary says %+v decides; the set says %+v", pt, r, got)
	}
}

// TestReorder checks that lists that accept the same packets differ in
// nothing: rules of one verdict swapped where they are next to each other,
// and a prefix split into its halves.
func TestReorder(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 4))
	for round := range 1000 {
		a := randInput(r)
		b := *a
		for i, list := range a.Lists {
			l := slices.Clone(list)
			for k := 0; k+1 < len(l); k++ {
				if l[k].Action == l[k+1].Action && r.IntN(2) == 0 {
					l[k], l[k+1] = l[k+1], l[k]
				}
			}
			var split []ir.Rule
			for _, ru := range l {
				if p := ru.Dst.Prefix; p.IsValid() && !p.IsSingleIP() && p.Bits() > 0 && r.IntN(2) == 0 {
					lo, hi := ru, ru
					lo.Dst.Prefix = netip.PrefixFrom(p.Addr(), p.Bits()+1)
					_, last := space.PrefixRange(lo.Dst.Prefix)
					hi.Dst.Prefix = netip.PrefixFrom(last.Inc().Addr(p.Addr().Is4()), p.Bits()+1)
					split = append(split, lo, hi)
					continue
				}
				split = append(split, ru)
			}
			b.Lists[i] = split
		}
		u := NewUniverse(append(Names(a), Names(&b)...))
		sa, sb := Compute(u, a), Compute(u, &b)
		if lines := Summarise(u, sa, sb, Diff(sa, sb)); len(lines) > 0 {
			t.Fatalf("round %d: %v\nand %v\naccept the same packets, but differ in %v", round, a.Lists, b.Lists, lines)
		}
	}
}

// TestCover checks how addresses are said: as the fewest prefixes, or as
// a prefix less its holes where that is shorter and the holes are the
// lesser part.
func TestCover(t *testing.T) {
	for _, tt := range []struct {
		spans []string // first-last, sorted
		want  string
	}{
		{[]string{"10.0.0.0-10.255.255.255"}, "10.0.0.0/8"},
		{[]string{"0.0.0.0-255.255.255.255"}, "0.0.0.0/0"},
		{[]string{"10.0.0.1-10.0.0.6"}, "10.0.0.1/32, 10.0.0.2/31, 10.0.0.4/31, 10.0.0.6/32"},
		{[]string{"0.0.0.0-9.255.255.255"}, "0.0.0.0/5, 8.0.0.0/7"},
		{[]string{"0.0.0.0-9.255.255.255", "11.0.0.0-255.255.255.255"}, "0.0.0.0/0 (except 10.0.0.0/8)"},
		{[]string{"192.168.1.48-192.168.1.49", "192.168.1.51-192.168.1.55"}, "192.168.1.48/29 (except 192.168.1.50/32)"},
		{[]string{"10.0.0.0-10.137.0.8", "10.137.0.10-10.255.255.255", "172.16.0.0-172.31.255.255", "192.168.0.0-192.168.255.255"},
			"10.0.0.0/8 (except 10.137.0.9/32), 172.16.0.0/12, 192.168.0.0/16"},
		{[]string{"10.0.0.1-10.0.0.20"}, "10.0.0.0/28 (except 10.0.0.0/32), 10.0.0.16/30, 10.0.0.20/32"},
		{[]string{"::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}, "::/0"},
		{[]string{"2001:db8::-2001:db8:0:1::"}, "2001:db8::/64, 2001:db8:0:1::/128"},
		{[]string{"::1-::1"}, "::1/128"},
		{[]string{"2001:db8::1-2001:db8::ff"}, "2001:db8::/120 (except 2001:db8::/128)"},
	} {
		var ss []span
		family := 4
		for _, sp := range tt.spans {
			first, last, _ := strings.Cut(sp, "-")
			lo, hi := netip.MustParseAddr(first), netip.MustParseAddr(last)
			ss = append(ss, span{space.FromAddr(lo), space.FromAddr(hi)})
			if lo.Is6() {
				family = 6
			}
		}
		var got []string
		c := cover(ss, space.U128{}, addrBits(family), family)
		for _, pt := range c.parts {
			s := pt.prefix.String()
			if len(pt.except) > 0 {
				var except []string
				for _, e := range pt.except {
					except = append(except, e.String())
				}
				s += " (except " + strings.Join(except, ", ") + ")"
			}
			got = append(got, s)
		}
		if g := strings.Join(got, ", "); g != tt.want || c.cost != strings.Count(g, "/") {
			t.Errorf("cover(%q) = %s (cost %d); want %s", tt.spans, g, c.cost, tt.want)
		}
	}
}
