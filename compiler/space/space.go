// Package space is the algebra of packet spaces that qfw reasons with: a
// box is a product of an interval of destinations and an interval of ports
// (or ICMP types) within one destination space and protocol. The coverage
// analysis asks whether earlier rules cover a rule; the nftables backend
// turns a union of rules into the disjoint elements that interval sets
// require.
package space

import (
	"encoding/binary"
	"net/netip"
	"slices"
)

// U128 is an unsigned 128-bit integer: an IPv6 address, or an IPv4 address
// in its low 32 bits.
type U128 struct{ Hi, Lo uint64 }

// Less reports whether a < b.
func (a U128) Less(b U128) bool { return a.Hi < b.Hi || (a.Hi == b.Hi && a.Lo < b.Lo) }

// Compare returns -1, 0 or 1 as a is less than, equal to or greater than
// b, for slices.SortFunc and slices.BinarySearchFunc.
func (a U128) Compare(b U128) int {
	switch {
	case a.Less(b):
		return -1
	case b.Less(a):
		return 1
	}
	return 0
}

// Inc returns a+1, wrapping.
func (a U128) Inc() U128 {
	if a.Lo == ^uint64(0) {
		return U128{a.Hi + 1, 0}
	}
	return U128{a.Hi, a.Lo + 1}
}

// Dec returns a-1, wrapping.
func (a U128) Dec() U128 {
	if a.Lo == 0 {
		return U128{a.Hi - 1, ^uint64(0)}
	}
	return U128{a.Hi, a.Lo - 1}
}

// MinU returns the lesser of a and b.
func MinU(a, b U128) U128 {
	if a.Less(b) {
		return a
	}
	return b
}

// MaxU returns the greater of a and b.
func MaxU(a, b U128) U128 {
	if a.Less(b) {
		return b
	}
	return a
}

// Max32 and Max128 are the last addresses of IPv4 and IPv6.
var (
	Max32  = U128{0, 0xffffffff}
	Max128 = U128{^uint64(0), ^uint64(0)}
)

// FromAddr returns a as a U128.
func FromAddr(a netip.Addr) U128 {
	if a.Is4() {
		b := a.As4()
		return U128{0, uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return U128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// Addr returns v as an address: IPv4 if is4, else IPv6.
func (v U128) Addr(is4 bool) netip.Addr {
	if is4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(v.Lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], v.Hi)
	binary.BigEndian.PutUint64(b[8:], v.Lo)
	return netip.AddrFrom16(b)
}

// PrefixRange returns the first and last address of p.
func PrefixRange(p netip.Prefix) (lo, hi U128) {
	lo = FromAddr(p.Masked().Addr())
	hi = lo
	if p.Addr().Is4() {
		hi.Lo |= uint64(1)<<(32-p.Bits()) - 1
		return lo, hi
	}
	bits := 128 - p.Bits()
	switch {
	case bits >= 64:
		hi.Lo = ^uint64(0)
		if bits == 128 {
			hi.Hi = ^uint64(0)
		} else {
			hi.Hi |= uint64(1)<<(bits-64) - 1
		}
	default:
		hi.Lo |= uint64(1)<<bits - 1
	}
	return lo, hi
}

// Box is a product of a destination interval and a port (or ICMP type)
// interval within one destination space and protocol; both intervals are
// inclusive. What a space and a protocol number mean is the caller's.
type Box struct {
	Space    int
	Proto    uint8
	Lo, Hi   U128
	PLo, PHi uint16
}

// Intersects reports whether b and e share a point.
func (b Box) Intersects(e Box) bool {
	return b.Space == e.Space && b.Proto == e.Proto &&
		!b.Hi.Less(e.Lo) && !e.Hi.Less(b.Lo) &&
		b.PLo <= e.PHi && e.PLo <= b.PHi
}

// Subtract appends the parts of b outside e to out, at most four boxes;
// b and e must intersect.
func (b Box) Subtract(e Box, out []Box) []Box {
	if b.Lo.Less(e.Lo) {
		p := b
		p.Hi = e.Lo.Dec()
		out = append(out, p)
	}
	if e.Hi.Less(b.Hi) {
		p := b
		p.Lo = e.Hi.Inc()
		out = append(out, p)
	}
	mid := b
	mid.Lo, mid.Hi = MaxU(b.Lo, e.Lo), MinU(b.Hi, e.Hi)
	if b.PLo < e.PLo {
		p := mid
		p.PHi = e.PLo - 1
		out = append(out, p)
	}
	if e.PHi < b.PHi {
		p := mid
		p.PLo = e.PHi + 1
		out = append(out, p)
	}
	return out
}

// Minus returns the parts of the boxes rest outside e, and whether e met
// any of them; when it met none, rest itself is returned. Otherwise the
// parts are appended to buf[:0], so that a caller subtracting many boxes
// can reuse two buffers; buf must not share memory with rest.
func Minus(rest []Box, e Box, buf []Box) (result []Box, met bool) {
	k := 0
	for k < len(rest) && !rest[k].Intersects(e) {
		k++
	}
	if k == len(rest) {
		return rest, false
	}
	out := append(buf[:0], rest[:k]...)
	for _, b := range rest[k:] {
		if b.Intersects(e) {
			out = b.Subtract(e, out)
		} else {
			out = append(out, b)
		}
	}
	return out, true
}

// Disjoint returns boxes whose union is that of boxes and of which no two
// intersect: each box adds only what the earlier ones did not cover, and
// the parts come in the order of the boxes they are of.
func Disjoint(boxes []Box) []Box {
	ranks := make([]int, len(boxes))
	for i := range ranks {
		ranks[i] = i
	}
	idx := NewIndex(boxes, ranks)
	// parts[i] is what box i adds. Only the earlier boxes that intersect
	// box i can take from it, and they take in their order, so the parts
	// are those of subtracting every earlier part in turn.
	parts := make([][]Box, len(boxes))
	var earlier []int
	n := 0
	for i, b := range boxes {
		piece := []Box{b}
		earlier = idx.Intersecting(b, i, earlier[:0])
		slices.Sort(earlier)
	subtract:
		for _, j := range earlier {
			for _, o := range parts[j] {
				if piece, _ = Minus(piece, o, nil); len(piece) == 0 {
					break subtract
				}
			}
		}
		parts[i] = piece
		n += len(piece)
	}
	out := make([]Box, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
