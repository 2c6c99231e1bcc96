package reach

import (
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/space"
)

// Change is a box of packets whose fate differs between two sets.
type Change struct {
	Box space.Box
	// Widened says the packets are accepted by the second set and were
	// dropped by the first; else the reverse.
	Widened bool
	// Base and Head are what decided the packets in the first set and in
	// the second.
	Base, Head Cause
}

// Diff returns the packets whose fate differs between base and head, which
// must be of one universe, as disjoint boxes.
func Diff(base, head *Set) []Change {
	boxes := make([]space.Box, len(head.Regions))
	ranks := make([]int, len(head.Regions))
	for i, r := range head.Regions {
		boxes[i] = r.Box
	}
	idx := space.NewIndex(boxes, ranks)
	var out []Change
	var found []int
	for _, rb := range base.Regions {
		found = idx.Intersecting(rb.Box, 1, found[:0])
		for _, j := range found {
			rh := &head.Regions[j]
			if rh.Action != rb.Action {
				out = append(out, Change{Box: intersect(rb.Box, rh.Box), Widened: rh.Action == ir.Accept, Base: rb.Cause, Head: rh.Cause})
			}
		}
	}
	return out
}

// intersect returns the box of the packets in both a and b, which
// intersect.
func intersect(a, b space.Box) space.Box {
	c := a
	if a.Lo.Less(b.Lo) {
		c.Lo = b.Lo
	}
	if b.Hi.Less(a.Hi) {
		c.Hi = b.Hi
	}
	c.PLo, c.PHi = max(a.PLo, b.PLo), min(a.PHi, b.PHi)
	return c
}

// Accepted returns the boxes of the packets s accepts, with what accepts
// them, as changes from a set that accepts nothing.
func (s *Set) Accepted() []Change {
	var out []Change
	for _, r := range s.Regions {
		if r.Action == ir.Accept {
			out = append(out, Change{Box: r.Box, Widened: true, Base: Cause{Kind: FinalDrop, Index: -1}, Head: r.Cause})
		}
	}
	return out
}
