package reach

import (
	"cmp"
	"math/bits"
	"net/netip"
	"slices"

	"github.com/qfw-dev/qfw/compiler/space"
)

// dests returns the destinations of segs, which share services: their
// addresses as the fewest prefixes, and their names.
func dests(u *Universe, segs []segment) Dests {
	var d Dests
	// The families of each name, as a bit mask.
	bit := func(family int) int { return family/2 - 1 }
	names := map[string]int{}
	var spans [2][]span
	for _, s := range segs {
		if s.at.name != "" {
			names[s.at.name] |= bit(s.at.family)
			continue
		}
		spans[s.at.family/6] = append(spans[s.at.family/6], span{s.lo, s.hi})
	}
	const both = 1 | 1<<1
	all := true
	for i, ss := range spans {
		family := 4 + 2*i
		slices.SortFunc(ss, func(a, b span) int { return a.lo.Compare(b.lo) })
		ss = joinSpans(ss)
		if len(ss) == 0 {
			all = false
			continue
		}
		var in, out []netip.Prefix
		for _, s := range ss {
			in = append(in, prefixes(s.lo, s.hi, family)...)
		}
		// The smallest prefix that holds them all, less its holes, where
		// that takes fewer prefixes and the holes are the lesser part:
		// "10.0.0.0/8 (except 10.137.0.9)", but 10.0.0.1 to 10.0.0.20 as
		// the six prefixes that hold them, not 10.0.0.0/27 less four.
		whole, lo, hi := enclosing(ss[0].lo, ss[len(ss)-1].hi, family)
		for _, s := range complement(ss, lo, hi) {
			out = append(out, prefixes(s.lo, s.hi, family)...)
		}
		if len(out) == 0 || len(out)+1 >= len(in) || 2*len(out) > len(in) {
			d.Prefixes = append(d.Prefixes, in...)
			all = all && len(out) == 0 && whole.Bits() == 0
			continue
		}
		d.Prefixes = append(d.Prefixes, whole)
		d.Except = append(d.Except, out...)
		all = all && whole.Bits() == 0
	}
	for _, n := range u.Names() {
		all = all && names[n] == both
	}
	if all {
		return Dests{Any: true, Except: d.Except}
	}
	for n, fams := range names {
		f := 4
		switch fams {
		case both:
			f = 0
		case bit(6):
			f = 6
		}
		d.Names = append(d.Names, Name{Name: n, Family: f})
	}
	slices.SortFunc(d.Names, func(a, b Name) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Family, b.Family)) })
	return d
}

// joinSpans joins the sorted, disjoint spans ss where they are adjacent.
func joinSpans(ss []span) []span {
	var out []span
	for _, s := range ss {
		if n := len(out); n > 0 && out[n-1].hi.Inc() == s.lo {
			out[n-1].hi = s.hi
			continue
		}
		out = append(out, s)
	}
	return out
}

// complement returns the addresses from lo to hi outside the sorted,
// disjoint spans ss, which lie between them.
func complement(ss []span, lo, hi space.U128) []span {
	var out []span
	next := lo
	for _, s := range ss {
		if next.Less(s.lo) {
			out = append(out, span{next, s.lo.Dec()})
		}
		if s.hi == hi {
			return out
		}
		next = s.hi.Inc()
	}
	return append(out, span{next, hi})
}

// enclosing returns the smallest prefix of family that holds the
// addresses lo to hi, and its first and last addresses.
func enclosing(lo, hi space.U128, family int) (p netip.Prefix, first, last space.U128) {
	width := 32
	if family == 6 {
		width = 128
	}
	// The bits below the highest one where lo and hi differ are free.
	free := 128 - leadingZeros(space.U128{Hi: lo.Hi ^ hi.Hi, Lo: lo.Lo ^ hi.Lo})
	mask := ones(free)
	first = space.U128{Hi: lo.Hi &^ mask.Hi, Lo: lo.Lo &^ mask.Lo}
	return netip.PrefixFrom(first.Addr(family == 4), width-free), first, or(first, mask)
}

func leadingZeros(a space.U128) int {
	if a.Hi != 0 {
		return bits.LeadingZeros64(a.Hi)
	}
	return 64 + bits.LeadingZeros64(a.Lo)
}

// prefixes returns the fewest prefixes that hold exactly the addresses lo
// to hi of family.
func prefixes(lo, hi space.U128, family int) []netip.Prefix {
	width := 32
	if family == 6 {
		width = 128
	}
	var out []netip.Prefix
	for {
		// The largest block that starts at lo and ends by hi.
		k := min(trailingZeros(lo), width)
		for k > 0 && hi.Less(or(lo, ones(k))) {
			k--
		}
		out = append(out, netip.PrefixFrom(lo.Addr(family == 4), width-k))
		end := or(lo, ones(k))
		if end == hi {
			return out
		}
		lo = end.Inc()
	}
}

func trailingZeros(a space.U128) int {
	if a.Lo != 0 {
		return bits.TrailingZeros64(a.Lo)
	}
	if a.Hi != 0 {
		return 64 + bits.TrailingZeros64(a.Hi)
	}
	return 128
}

// ones returns 2^k - 1.
func ones(k int) space.U128 {
	switch {
	case k >= 128:
		return space.Max128
	case k >= 64:
		return space.U128{Hi: 1<<(k-64) - 1, Lo: ^uint64(0)}
	}
	return space.U128{Lo: 1<<k - 1}
}

func or(a, b space.U128) space.U128 { return space.U128{Hi: a.Hi | b.Hi, Lo: a.Lo | b.Lo} }
