package reach

import (
	"cmp"
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
		c := cover(ss, space.U128{}, addrBits(family), family)
		for _, pt := range c.parts {
			d.Prefixes = append(d.Prefixes, pt.prefix)
			d.Except = append(d.Except, pt.except...)
		}
		all = all && len(c.parts) == 1 && c.parts[0].prefix.Bits() == 0
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

// coverPart is a prefix less the prefixes in except, which it holds.
type coverPart struct {
	prefix netip.Prefix
	except []netip.Prefix
}

// covering says the addresses of spans in one block of addresses.
type covering struct {
	// in is how many prefixes hold exactly the addresses.
	in int
	// holes is how many prefixes, at fewest, hold the block's other
	// addresses; holesOf lists them, only where a part needs them.
	holes int
	// parts say the addresses in the fewest prefixes and exceptions,
	// cost in all.
	parts []coverPart
	cost  int
}

// cover returns the addresses of the sorted, disjoint, non-adjacent spans
// ss in the block of family that starts at lo and holds 2^free addresses,
// said as prefixes, each less some holes where that takes fewer prefixes
// and the holes are the lesser part of it: "10.0.0.0/8 (except
// 10.137.0.9), 172.16.0.0/12", but 10.0.0.16 to 10.0.0.20 as the two
// prefixes that hold them, not 10.0.0.16/29 less two. ss are the spans
// that meet the block. The fewest prefixes of a block's addresses, or of
// its holes, are those of its two halves unless the block is whole, so
// each block is judged from its halves.
func cover(ss []span, lo space.U128, free, family int) covering {
	switch {
	case len(ss) == 0:
		return covering{holes: 1}
	case fills(ss, lo, free):
		return covering{in: 1, parts: []coverPart{{prefix: block(lo, free, family)}}, cost: 1}
	}
	left, right, mid := halves(ss, lo, free)
	l, r := cover(left, lo, free-1, family), cover(right, mid, free-1, family)
	c := covering{in: l.in + r.in, holes: l.holes + r.holes}
	if whole := 1 + c.holes; whole < l.cost+r.cost && 2*c.holes < c.in {
		c.parts = []coverPart{{prefix: block(lo, free, family), except: holesOf(nil, ss, lo, free, family)}}
		c.cost = whole
		return c
	}
	c.cost = l.cost + r.cost
	// Most blocks have addresses in one half only: pass that half's
	// parts up rather than copy them at each of the 32 or 128 levels.
	switch {
	case len(l.parts) == 0:
		c.parts = r.parts
	case len(r.parts) == 0:
		c.parts = l.parts
	default:
		c.parts = append(l.parts, r.parts...)
	}
	return c
}

// holesOf appends to out the addresses of the block at lo, 2^free of
// them, that are outside the spans ss that meet it, as the fewest
// prefixes in the order cover counts them.
func holesOf(out []netip.Prefix, ss []span, lo space.U128, free, family int) []netip.Prefix {
	switch {
	case len(ss) == 0:
		return append(out, block(lo, free, family))
	case fills(ss, lo, free):
		return out
	}
	left, right, mid := halves(ss, lo, free)
	return holesOf(holesOf(out, left, lo, free-1, family), right, mid, free-1, family)
}

// fills reports whether the first of the spans ss holds all of the block
// at lo, 2^free addresses.
func fills(ss []span, lo space.U128, free int) bool {
	return !lo.Less(ss[0].lo) && !ss[0].hi.Less(or(lo, ones(free)))
}

// halves splits the block at lo, 2^free addresses, in two: it returns
// the spans of ss that meet each half, and where the second starts. As ss
// are sorted and disjoint, those are a head and a tail of ss.
func halves(ss []span, lo space.U128, free int) (left, right []span, mid space.U128) {
	mid = or(lo, ones(free-1).Inc())
	i, j := 0, 0
	for i < len(ss) && ss[i].lo.Less(mid) {
		i++
	}
	for j < len(ss) && ss[j].hi.Less(mid) {
		j++
	}
	return ss[:i], ss[j:], mid
}

// block returns the block of family at lo that holds 2^free addresses.
func block(lo space.U128, free, family int) netip.Prefix {
	return netip.PrefixFrom(lo.Addr(family == 4), addrBits(family)-free)
}

// addrBits returns the number of bits of an address of family.
func addrBits(family int) int {
	if family == 6 {
		return 128
	}
	return 32
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
