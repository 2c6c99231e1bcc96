package reach

import "github.com/qfw-dev/qfw/compiler/ir"

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
