package space

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

func TestPrefixRange(t *testing.T) {
	for _, tt := range []struct{ prefix, lo, hi string }{
		{"192.0.2.0/24", "192.0.2.0", "192.0.2.255"},
		{"0.0.0.0/0", "0.0.0.0", "255.255.255.255"},
		{"192.0.2.7/32", "192.0.2.7", "192.0.2.7"},
		{"2001:db8::/32", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"::/0", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"2001:db8::/96", "2001:db8::", "2001:db8::ffff:ffff"},
		{"2001:db8::1/128", "2001:db8::1", "2001:db8::1"},
	} {
		p := netip.MustParsePrefix(tt.prefix)
		lo, hi := PrefixRange(p)
		is4 := p.Addr().Is4()
		if got := lo.Addr(is4).String(); got != tt.lo {
			t.Errorf("PrefixRange(%s) first = %s; want %s", tt.prefix, got, tt.lo)
		}
		if got := hi.Addr(is4).String(); got != tt.hi {
			t.Errorf("PrefixRange(%s) last = %s; want %s", tt.prefix, got, tt.hi)
		}
	}
}

// TestDisjoint checks, on random boxes in a small space, that Disjoint
// keeps the union exactly and leaves no two boxes intersecting.
func TestDisjoint(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 7))
	for range 300 {
		var in []Box
		for range 1 + rnd.IntN(6) {
			lo, plo := uint64(rnd.IntN(16)), uint16(rnd.IntN(16))
			in = append(in, Box{Proto: uint8(rnd.IntN(2)), Lo: U128{0, lo}, Hi: U128{0, lo + uint64(rnd.IntN(8))},
				PLo: plo, PHi: plo + uint16(rnd.IntN(8))})
		}
		out := Disjoint(in)
		for i := range out {
			for j := i + 1; j < len(out); j++ {
				if out[i].Intersects(out[j]) {
					t.Fatalf("Disjoint(%v): %v and %v intersect", in, out[i], out[j])
				}
			}
		}
		for proto := range uint8(2) {
			for a := range uint64(24) {
				for p := range uint16(24) {
					pt := Box{Proto: proto, Lo: U128{0, a}, Hi: U128{0, a}, PLo: p, PHi: p}
					if inAny(in, pt) != inAny(out, pt) {
						t.Fatalf("Disjoint(%v) = %v: point %v differs", in, out, pt)
					}
				}
			}
		}
	}
}

func inAny(bs []Box, pt Box) bool {
	for _, b := range bs {
		if b.Intersects(pt) {
			return true
		}
	}
	return false
}
