package space

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// randomBoxes returns n boxes in a small space of two destination spaces
// and two protocols, so that most of them intersect others, with a few
// spanning a whole dimension.
func randomBoxes(r *rand.Rand, n int) []Box {
	out := make([]Box, n)
	for i := range out {
		lo, plo := uint64(r.IntN(64)), uint16(r.IntN(16))
		b := Box{Space: r.IntN(2), Proto: uint8(r.IntN(2)), Lo: U128{0, lo}, Hi: U128{0, lo + uint64(r.IntN(8))},
			PLo: plo, PHi: plo + uint16(r.IntN(8))}
		switch r.IntN(10) {
		case 0:
			b.Lo, b.Hi = U128{}, Max128
		case 1:
			b.PLo, b.PHi = 0, 65535
		}
		out[i] = b
	}
	return out
}

func TestIndexIntersecting(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 200 {
		boxes := randomBoxes(r, r.IntN(2*scanBelow))
		ranks := make([]int, len(boxes))
		for i := range ranks {
			ranks[i] = r.IntN(20)
		}
		idx := NewIndex(boxes, ranks)
		for range 20 {
			q := randomBoxes(r, 1)[0]
			below := r.IntN(22)
			var want []int
			for i, b := range boxes {
				if ranks[i] < below && b.Intersects(q) {
					want = append(want, i)
				}
			}
			got := idx.Intersecting(q, below, nil)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("round %d: Intersecting(%v, %d) = %v; want %v", round, q, below, got, want)
			}
		}
	}
}

// disjointQuadratic is Disjoint as it is defined: each box less every part
// before it, in order.
func disjointQuadratic(boxes []Box) []Box {
	var out []Box
	for _, b := range boxes {
		piece := []Box{b}
		for _, o := range out {
			if piece, _ = Minus(piece, o, nil); len(piece) == 0 {
				break
			}
		}
		out = append(out, piece...)
	}
	return out
}

// TestDisjointDifferential checks that Disjoint returns the very parts of
// the definition, in the same order: the nftables sets list them.
func TestDisjointDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for round := range 200 {
		boxes := randomBoxes(r, r.IntN(scanBelow+64))
		got, want := Disjoint(boxes), disjointQuadratic(boxes)
		if !slices.Equal(got, want) && len(got)+len(want) > 0 {
			t.Fatalf("round %d: Disjoint(%v)\n = %v\nwant %v", round, boxes, got, want)
		}
	}
}
