package main

import (
	"fmt"
	"io"

	"github.com/qfw-dev/qfw/review/graph"
)

// printHTML writes the changes as qfw graph's page: each qube whose
// access changes or that is added, removed or moved, its firewall qube
// (the head's, if it has one), and an edge to each set of destinations it
// gains or loses, with what decides the packets on each side.
func (r *diffReport) printHTML(w io.Writer) error {
	var qubes []graph.Qube
	for _, q := range r.qubes {
		if !q.interesting() {
			continue
		}
		at := q.at[1]
		if at == nil {
			at = q.at[0]
		}
		gq := graph.Qube{Name: q.name, Firewall: at.firewall, Backend: at.backend, Unpinned: q.unpinned}
		switch {
		case q.added():
			gq.Detail = "added"
		case q.removed():
			gq.Detail = "removed, keeps its list until qfw apply --release"
		case q.moved():
			gq.Detail = "moved from " + q.at[0].String()
		}
		for i := range q.lines {
			l := &q.lines[i]
			v := graph.Lost
			if l.Widened {
				v = graph.Gained
			}
			gq.Lines = append(gq.Lines, graph.Line{Line: *l, Verdict: v,
				Why: fmt.Sprintf("now %s; was %s", r.reasonText(q, l, 1), r.reasonText(q, l, 0))})
		}
		qubes = append(qubes, gq)
	}
	title := fmt.Sprintf("What %s → %s changes about who can reach what", r.sides[0].arg, r.sides[1].arg)
	return graph.FromQubes(title, qubes, true).WriteHTML(w)
}
