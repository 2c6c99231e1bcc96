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
		var in, out []netip.Prefix
		for _, s := range ss {
			in = append(in, prefixes(s.lo, s.hi, family)...)
		}
		for _, s := range complement(ss, family) {
			out = append(out, prefixes(s.lo, s.hi, family)...)
		}
		switch {
		case len(ss) == 0:
			all = false
		case len(out)+1 < len(in) || len(out) == 0:
			// All the family's addresses but a few.
			d.Prefixes = append(d.Prefixes, netip.PrefixFrom(space.U128{}.Addr(family == 4), 0))
			d.Except = append(d.Except, out...)
		default:
			all = false
			d.Prefixes = append(d.Prefixes, in...)
		}
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

// complement returns the addresses of family outside the sorted, disjoint
// spans ss.
func complement(ss []span, family int) []span {
	end := space.Max32
	if family == 6 {
		end = space.Max128
	}
	var out []span
	next, done := space.U128{}, false
	for _, s := range ss {
		if next.Less(s.lo) {
			out = append(out, span{next, s.lo.Dec()})
		}
		if s.hi == end {
			done = true
			break
		}
		next = s.hi.Inc()
	}
	if !done {
		out = append(out, span{next, end})
	}
	return out
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
