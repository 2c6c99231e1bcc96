package diff

import (
	"fmt"
	"io"

	"github.com/qfw-dev/qfw/review/graph"
)

// Graph returns the changes as qfw graph draws them: each qube whose
// access changes or that is added, removed or moved, its firewall qube
// (the head's, if it has one), and an edge to each set of destinations it
// gains or loses, with what decides the packets on each side.
func (r *Report) Graph() *graph.Graph {
	var qubes []graph.Qube
	for _, q := range r.Qubes {
		if !q.Interesting() {
			continue
		}
		at := q.where()
		gq := graph.Qube{Name: q.Name, Firewall: at.Firewall, Backend: at.Backend, Unpinned: q.Unpinned}
		switch {
		case q.Added():
			gq.Detail = "added"
		case q.Removed():
			gq.Detail = "removed, keeps its list until qfw apply --release"
		case q.Moved():
			gq.Detail = "moved from " + q.At[0].String()
		}
		for i := range q.Lines {
			l := &q.Lines[i]
			v := graph.Lost
			if l.Widened {
				v = graph.Gained
			}
			gq.Lines = append(gq.Lines, graph.Line{Line: *l, Verdict: v,
				Why: fmt.Sprintf("now %s; was %s", r.reason(q, l, 1), r.reason(q, l, 0))})
		}
		qubes = append(qubes, gq)
	}
	title := fmt.Sprintf("What %s → %s changes about who can reach what", r.Sides[0].Arg, r.Sides[1].Arg)
	return graph.FromQubes(title, qubes, true)
}

// WriteHTML writes the changes as qfw graph's page of [Report.Graph],
// which works from a file.
func (r *Report) WriteHTML(w io.Writer) error { return r.Graph().WriteHTML(w) }
