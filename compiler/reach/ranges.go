package reach

import (
	"cmp"
	"slices"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// merge returns the union of rs as sorted ranges, neither overlapping nor
// adjacent.
func merge(rs []ir.PortRange) []ir.PortRange {
	slices.SortFunc(rs, func(a, b ir.PortRange) int { return cmp.Or(cmp.Compare(a.First, b.First), cmp.Compare(a.Last, b.Last)) })
	var out []ir.PortRange
	for _, r := range rs {
		if n := len(out); n > 0 && int(r.First) <= int(out[n-1].Last)+1 {
			out[n-1].Last = max(out[n-1].Last, r.Last)
			continue
		}
		out = append(out, r)
	}
	return out
}

// intersectRanges returns the ranges in both a and b, which are merged.
func intersectRanges(a, b []ir.PortRange) []ir.PortRange {
	var out []ir.PortRange
	for i, j := 0, 0; i < len(a) && j < len(b); {
		lo, hi := max(a[i].First, b[j].First), min(a[i].Last, b[j].Last)
		if lo <= hi {
			out = append(out, ir.PortRange{First: lo, Last: hi})
		}
		if a[i].Last < b[j].Last {
			i++
		} else {
			j++
		}
	}
	return out
}

// subtractRanges returns the ranges of a outside b, which are merged.
func subtractRanges(a, b []ir.PortRange) []ir.PortRange {
	var out []ir.PortRange
	j := 0
	for _, r := range a {
		lo := int(r.First)
		for j < len(b) && int(b[j].Last) < lo {
			j++
		}
		for k := j; k < len(b) && int(b[k].First) <= int(r.Last); k++ {
			if int(b[k].First) > lo {
				out = append(out, ir.PortRange{First: uint16(lo), Last: b[k].First - 1})
			}
			lo = int(b[k].Last) + 1
		}
		if lo <= int(r.Last) {
			out = append(out, ir.PortRange{First: uint16(lo), Last: r.Last})
		}
	}
	return out
}
