package space

import (
	"cmp"
	"slices"
)

// Index finds, among a fixed list of boxes, those that intersect a box.
// Each box has a rank, the position of what it stands for (a rule in a
// list, say), and a query asks only for the boxes of lower rank: those
// that come before.
//
// Boxes of one space and protocol are sorted by their first address, and
// a balanced tree over that order keeps, for each run of boxes, their
// highest last address and their lowest rank, so that a query skips every
// run that ends before the box or holds nothing earlier. A query costs
// about log n for each box it finds, instead of n.
type Index struct {
	groups map[groupKey]*group
	// A few boxes are faster to scan than to sort and search: then
	// boxes and ranks hold them, and groups is nil.
	boxes []Box
	ranks []int
}

// scanBelow is the number of boxes up to which an index scans them all.
const scanBelow = 256

type groupKey struct {
	space int
	proto uint8
}

// group holds the boxes of one space and protocol, sorted by Lo, and the
// tree over them: node 1 spans them all and node k has children 2k and
// 2k+1, each spanning half of its run.
type group struct {
	boxes []Box
	ranks []int
	seqs  []int // the position of each box in the list given to NewIndex
	// maxHi and minRank hold, for each node, the highest Hi and the
	// lowest rank of its run.
	maxHi   []U128
	minRank []int
}

// NewIndex returns an index of boxes; box i has rank ranks[i], and a query
// returns it as i.
func NewIndex(boxes []Box, ranks []int) *Index {
	if len(boxes) <= scanBelow {
		return &Index{boxes: boxes, ranks: ranks}
	}
	x := &Index{groups: map[groupKey]*group{}}
	order := make([]int, len(boxes))
	for i := range order {
		order[i] = i
	}
	// Sorted by group, then Lo, so that each group's boxes are a run.
	slices.SortFunc(order, func(i, j int) int {
		a, b := boxes[i], boxes[j]
		if c := cmp.Compare(a.Space, b.Space); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Proto, b.Proto); c != 0 {
			return c
		}
		switch {
		case a.Lo.Less(b.Lo):
			return -1
		case b.Lo.Less(a.Lo):
			return 1
		}
		return cmp.Compare(i, j)
	})
	for start := 0; start < len(order); {
		k := groupKey{boxes[order[start]].Space, boxes[order[start]].Proto}
		end := start + 1
		for end < len(order) && (groupKey{boxes[order[end]].Space, boxes[order[end]].Proto}) == k {
			end++
		}
		g := &group{}
		for _, i := range order[start:end] {
			g.boxes = append(g.boxes, boxes[i])
			g.ranks = append(g.ranks, ranks[i])
			g.seqs = append(g.seqs, i)
		}
		n := len(g.boxes)
		g.maxHi = make([]U128, 4*n)
		g.minRank = make([]int, 4*n)
		g.build(1, 0, n)
		x.groups[k] = g
		start = end
	}
	return x
}

func (g *group) build(node, lo, hi int) {
	if hi-lo == 1 {
		g.maxHi[node], g.minRank[node] = g.boxes[lo].Hi, g.ranks[lo]
		return
	}
	mid := (lo + hi) / 2
	g.build(2*node, lo, mid)
	g.build(2*node+1, mid, hi)
	g.maxHi[node] = MaxU(g.maxHi[2*node], g.maxHi[2*node+1])
	g.minRank[node] = min(g.minRank[2*node], g.minRank[2*node+1])
}

// Intersecting appends to out the boxes that intersect b and have a rank
// below below, as their positions in the list given to NewIndex, in no
// particular order.
func (x *Index) Intersecting(b Box, below int, out []int) []int {
	if x.groups == nil {
		for i, e := range x.boxes {
			if x.ranks[i] < below && e.Intersects(b) {
				out = append(out, i)
			}
		}
		return out
	}
	g := x.groups[groupKey{b.Space, b.Proto}]
	if g == nil {
		return out
	}
	// Only boxes that start at or before b.Hi can meet it.
	end, _ := slices.BinarySearchFunc(g.boxes, b.Hi, func(e Box, hi U128) int {
		if hi.Less(e.Lo) {
			return 1
		}
		return -1
	})
	return g.find(1, 0, len(g.boxes), end, b, below, out)
}

func (g *group) find(node, lo, hi, end int, b Box, below int, out []int) []int {
	if lo >= end || g.maxHi[node].Less(b.Lo) || g.minRank[node] >= below {
		return out
	}
	if hi-lo == 1 {
		if g.boxes[lo].Intersects(b) {
			out = append(out, g.seqs[lo])
		}
		return out
	}
	mid := (lo + hi) / 2
	out = g.find(2*node, lo, mid, end, b, below, out)
	return g.find(2*node+1, mid, hi, end, b, below, out)
}
