package query

import (
	"bufio"
	"fmt"
	"io"

	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/reach"
	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/internal/words"
	"github.com/qfw-dev/qfw/internal/workdir"
	"github.com/qfw-dev/qfw/review"
)

// Reachable is show's answer: everything a qube can reach, the packets
// its firewall qube accepts from it, summarised as lines of packets, each
// with what accepts it.
type Reachable struct {
	name string
	// at is where the qube's rules are enforced.
	at *review.Place
	// u holds the names the resolve section does not pin, which the
	// lines name rather than their addresses.
	u     *reach.Universe
	lines []reach.Line
}

// Show returns what the qube q of p reaches, as its firewall qube
// enforces its rules: the lines of the packets it accepts, merged.
func Show(p *Policy, q *ir.Qube) *Reachable {
	in, at := review.Enforcement(p.Program, q, p.Now, p.Lowered[q.Name])
	u := reach.NewUniverse(reach.Names(in))
	s := reach.Compute(u, in)
	return &Reachable{name: q.Name, at: at, u: u, lines: reach.Summarise(u, nil, s, s.Accepted())}
}

// WriteText writes r as qfw show prints it.
func (r *Reachable) WriteText(w io.Writer) error {
	b := bufio.NewWriter(w)
	if r.at.Firewall == "" {
		fmt.Fprintf(b, "%s has no netvm: it reaches nothing\n", r.name)
		return b.Flush()
	}
	fmt.Fprintf(b, "%s, behind %s:\n", r.name, r.at)
	if len(r.lines) == 0 {
		fmt.Fprintf(b, "  nothing: its firewall qube accepts none of its packets\n")
	}
	for i := range r.lines {
		l := &r.lines[i]
		fmt.Fprintf(b, "  %s\n      %s\n", l, r.acceptText(l.Head))
	}
	if names := r.u.Names(); len(names) > 0 {
		fmt.Fprintf(b, "note: the resolve section pins no addresses for %s: shown as a name, not as the addresses it resolves to\n", words.Or(names))
	}
	return b.Flush()
}

// acceptText says what accepts the packets of a line, for reason why.
func (r *Reachable) acceptText(why reach.Reason) string {
	switch why.Kind {
	case reach.ByRule:
		return "by " + deploy.DescribeRule(why.Rule)
	case reach.Self:
		return fmt.Sprintf("by %s itself, which passes DNS to its own address on to its netvm", r.at.Firewall)
	}
	return "by no rule"
}

// WriteJSON writes r as qfw show --json prints it.
func (r *Reachable) WriteJSON(w io.Writer) error {
	type lineJSON struct {
		review.LineJSON
		Rule     string `json:"rule,omitempty"`
		Position string `json:"position,omitempty"`
		Why      string `json:"why"`
	}
	doc := struct {
		FormatVersion string            `json:"format_version"`
		Qube          string            `json:"qube"`
		Firewall      *review.PlaceJSON `json:"firewall"`
		Reaches       []lineJSON        `json:"reaches"`
		Unpinned      []string          `json:"unpinned_names,omitempty"`
	}{FormatVersion: formatVersion, Qube: r.name, Reaches: []lineJSON{}, Unpinned: r.u.Names()}
	if r.at.Firewall != "" {
		doc.Firewall = &review.PlaceJSON{Firewall: r.at.Firewall, Backend: r.at.Backend.String()}
	}
	for i := range r.lines {
		l := &r.lines[i]
		lj := lineJSON{LineJSON: review.LineOf(l), Why: r.acceptText(l.Head)}
		if rule := l.Head.Rule; rule != nil && rule.Origin.Name != "" {
			lj.Rule, lj.Position = rule.Origin.String(), workdir.Pos(rule.Origin.Pos)
		}
		doc.Reaches = append(doc.Reaches, lj)
	}
	return writeJSON(w, doc)
}
