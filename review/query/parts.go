package query

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/reach"
	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/internal/words"
	"github.com/qfw-dev/qfw/internal/workdir"
	"github.com/qfw-dev/qfw/policytest"
	"github.com/qfw-dev/qfw/review"
)

// Explanation is explain's answer per part: at each firewall qube that
// enforces the qube's rules, the packets asked about cut into parts that
// meet one fate for one reason, each with its verdict and what decides
// it.
type Explanation struct {
	from string
	q    Question
	// answers are those of each firewall qube; none if the qube has no
	// netvm.
	answers []*answer
	// ext6 says IPv6 packets with extension headers are asked about.
	ext6 bool
}

// Explain answers q for the packets from the qube from of p, per part. It
// fails if q names a host that the policy's resolve section pins no
// address for.
func Explain(p *Policy, from *ir.Qube, q Question) (*Explanation, error) {
	res := eval.Table(p.Program.Resolve)
	qs, err := q.queries(res)
	if err != nil {
		return nil, err
	}
	x := &Explanation{from: from.Name, q: q}
	x.ext6 = q.ExtHeaders && slices.ContainsFunc(qs, func(q reach.Query) bool { return q.First.Is6() })
	es := p.enforcers(from, res)
	for i := range es {
		x.answers = append(x.answers, answerFor(&es[i], qs))
	}
	return x, nil
}

// WriteText writes x as qfw explain prints it.
func (x *Explanation) WriteText(w io.Writer) error {
	b := bufio.NewWriter(w)
	writeHead(b, x.from, &x.q, len(x.answers) == 0)
	for _, a := range x.answers {
		fmt.Fprintf(b, "%s:\n", a.at)
		a.writeParts(b, "  ", x.from)
		if x.ext6 {
			writeExtHeaders(b, a.enforcer)
		}
		a.writeUnpinned(b, "  ")
	}
	return b.Flush()
}

// WriteJSON writes x as qfw explain --json prints it.
func (x *Explanation) WriteJSON(w io.Writer) error {
	doc := struct {
		FormatVersion string       `json:"format_version"`
		From          string       `json:"from"`
		To            string       `json:"to"`
		ExtHeaders    bool         `json:"ext_headers,omitempty"`
		NoNetvm       bool         `json:"no_netvm,omitempty"`
		Firewalls     []answerJSON `json:"firewalls"`
	}{FormatVersion: formatVersion, From: x.from, To: x.q.Text, ExtHeaders: x.q.ExtHeaders, NoNetvm: len(x.answers) == 0, Firewalls: []answerJSON{}}
	for _, a := range x.answers {
		doc.Firewalls = append(doc.Firewalls, a.json(x.from))
	}
	return writeJSON(w, doc)
}

// writeJSON writes doc as the answers' JSON, indented.
func writeJSON(w io.Writer, doc any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// answer is the fate of the packets of a question at one firewall qube:
// lines of packets with their verdict and what decides it, accepted
// first, then by destination.
type answer struct {
	at       *review.Place
	enforcer *policytest.Enforcer
	lines    []reach.Line
	// unpinned are the names of rules that the resolve section pins no
	// addresses for: such rules count for no address here.
	unpinned []string
	// decided are, for each verdict and policy rule, the lines of the
	// firewall qube's lists of that rule that decide some of the packets:
	// a rule of several ports or families is several lines.
	decided map[decidedKey][]reach.Cause
}

// decidedKey is a verdict and the rule that gives it, as a line of a
// summary names it.
type decidedKey struct {
	accept bool
	origin ir.Origin
	// rule stands for a rule without an origin, read from dom0.
	rule string
}

func keyOf(accept bool, r *ir.Rule) decidedKey {
	k := decidedKey{accept: accept, origin: r.Origin}
	if r.Origin == (ir.Origin{}) {
		k.rule = r.Action.String() + " " + r.Match.String()
	}
	return k
}

// accepts and drops report whether some of a's packets are accepted, and
// some dropped.
func (a *answer) accepts() bool {
	return len(a.lines) > 0 && a.lines[0].Widened
}

func (a *answer) drops() bool {
	return len(a.lines) > 0 && !a.lines[len(a.lines)-1].Widened
}

// answerFor returns the fate of the packets of qs at e.
func answerFor(e *policytest.Enforcer, qs []reach.Query) *answer {
	in, at := review.Enforced(e)
	u := reach.NewUniverse(reach.Names(in))
	s := reach.Compute(u, in)
	var changes []reach.Change
	for _, q := range qs {
		changes = append(changes, s.Fates(q.Boxes())...)
	}
	decided := map[decidedKey][]reach.Cause{}
	for _, c := range changes {
		cause := c.Base
		if c.Widened {
			cause = c.Head
		}
		if cause.Kind != reach.ByRule {
			continue
		}
		k := keyOf(c.Widened, s.Rule(cause))
		if !slices.Contains(decided[k], cause) {
			decided[k] = append(decided[k], cause)
		}
	}
	for _, cs := range decided {
		slices.SortFunc(cs, func(a, b reach.Cause) int {
			return cmp.Or(cmp.Compare(a.Family, b.Family), cmp.Compare(a.Index, b.Index))
		})
	}
	return &answer{
		at:       at,
		enforcer: e,
		lines:    reach.SummariseFates(u, s, changes),
		unpinned: u.Names(),
		decided:  decided,
	}
}

// enforced returns the lines of the firewall qube's lists that decide the
// packets of l, as dom0 stores them (for the unikernel, as it reads
// them), in the order of the lists: the lines of l's rule. A line of both
// families is one line in dom0's list, and said once.
func (a *answer) enforced(l *reach.Line) []string {
	verdict, r := verdictOf(l)
	if r.Kind != reach.ByRule {
		return nil
	}
	var out []string
	for _, c := range a.decided[keyOf(verdict == ir.Accept, r.Rule)] {
		if line := enforcedLine(a.enforcer, a.enforcer.List(c.Family)[c.Index]); !slices.Contains(out, line) {
			out = append(out, line)
		}
	}
	return out
}

// verdictOf returns the verdict of line l of an answer and what decides it.
func verdictOf(l *reach.Line) (ir.Action, reach.Reason) {
	if l.Widened {
		return ir.Accept, l.Head
	}
	return ir.Drop, l.Base
}

// fate says what decides the packets of l, sent by qube from.
func (a *answer) fate(from string, l *reach.Line) string {
	verdict, r := verdictOf(l)
	switch r.Kind {
	case reach.ByRule:
		return fmt.Sprintf("%s by %s", verdict, deploy.DescribeRule(r.Rule))
	case reach.Blocked:
		return fmt.Sprintf("drop: %s names %s, which has no IPv%d address, so %s refuses the whole IPv%d list and drops everything",
			deploy.DescribeRule(r.Rule), r.Rule.Dst.Host, r.Family, a.at.Firewall, r.Family)
	case reach.NoAddress:
		return fmt.Sprintf("drop: %s has no IPv%d address, so it sends no such packets", from, r.Family)
	case reach.Self:
		if verdict == ir.Accept {
			return "accept: this release sends DNS queries to its own address on to its netvm, whatever the rules"
		}
		return "drop: the unikernel drops all traffic to its own address, whatever the rules"
	}
	return "drop: no rule matches, so the list's final drop applies"
}

// writeParts writes the lines of a, of packets sent by qube from,
// indented by indent.
func (a *answer) writeParts(w io.Writer, indent, from string) {
	for i := range a.lines {
		l := &a.lines[i]
		fmt.Fprintf(w, "%s%s: %s\n", indent, l, a.fate(from, l))
		for _, e := range a.enforced(l) {
			fmt.Fprintf(w, "%s    %s\n", indent, e)
		}
	}
}

// writeUnpinned notes, indented by indent, the names whose rules count
// for no address in a.
func (a *answer) writeUnpinned(w io.Writer, indent string) {
	if len(a.unpinned) > 0 {
		fmt.Fprintf(w, "%snote: the resolve section pins no addresses for %s: its rules count for no address here, and would decide where it resolves to\n", indent, words.Or(a.unpinned))
	}
}

// partJSON is a line of an answer in JSON.
type partJSON struct {
	Verdict string `json:"verdict"`
	review.LineJSON
	Rule     string   `json:"rule,omitempty"`
	Position string   `json:"position,omitempty"`
	Enforced []string `json:"enforced,omitempty"`
	Why      string   `json:"why"`
}

// answerJSON is an answer at one firewall qube in JSON.
type answerJSON struct {
	Firewall string     `json:"firewall"`
	Backend  string     `json:"backend"`
	Parts    []partJSON `json:"parts"`
	Unpinned []string   `json:"unpinned_names,omitempty"`
}

// json returns a, of packets sent by qube from, in JSON.
func (a *answer) json(from string) answerJSON {
	out := answerJSON{Firewall: a.at.Firewall, Backend: a.at.Backend.String(), Parts: []partJSON{}, Unpinned: a.unpinned}
	for i := range a.lines {
		l := &a.lines[i]
		verdict, r := verdictOf(l)
		pj := partJSON{Verdict: verdict.String(), LineJSON: review.LineOf(l), Why: a.fate(from, l)}
		if r.Kind == reach.ByRule {
			pj.Enforced = a.enforced(l)
			if r.Rule.Origin.Name != "" {
				pj.Rule, pj.Position = r.Rule.Origin.String(), workdir.Pos(r.Rule.Origin.Pos)
			}
		}
		out.Parts = append(out.Parts, pj)
	}
	return out
}
