package diff

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/reach"
	"github.com/qfw-dev/qfw/review"
	"github.com/qfw-dev/qfw/review/source"
)

// Report is what changes between two policies, for each qube either
// names, by name.
type Report struct {
	Sides [2]*source.Side
	Qubes []*Qube
}

// Qube is what changes for one qube.
type Qube struct {
	Name string
	// At is where the qube's rules are enforced on each side; nil where
	// the policy does not name the qube.
	At [2]*review.Place
	// Sets are what the qube reaches on each side, and Lines what
	// changes, merged; both empty where nothing can change.
	Sets  [2]*reach.Set
	Lines []reach.Line
	// Unpinned are the names that the resolve section pins on neither
	// side, compared as names.
	Unpinned []string
}

// Added, Removed and Moved report whether the head policy adds q, drops
// it, or enforces its rules elsewhere.
func (q *Qube) Added() bool   { return q.At[0] == nil && q.At[1] != nil }
func (q *Qube) Removed() bool { return q.At[0] != nil && q.At[1] == nil }
func (q *Qube) Moved() bool {
	return q.At[0] != nil && q.At[1] != nil && *q.At[0] != *q.At[1]
}

// where returns where q's rules are enforced on the head side, if the
// head policy names q, and on the base side otherwise.
func (q *Qube) where() *review.Place {
	if q.At[1] != nil {
		return q.At[1]
	}
	return q.At[0]
}

// Interesting reports whether the report says anything of q.
func (q *Qube) Interesting() bool {
	return len(q.Lines) > 0 || q.Added() || q.Removed() || q.Moved()
}

// Changed reports whether reachability or the qubes change: qfw diff's
// exit code.
func (r *Report) Changed() bool {
	return slices.ContainsFunc(r.Qubes, (*Qube).Interesting)
}

// Compare compares the qubes of the two compiled policies, judging expiry
// at p.Now, the time they were built for.
func (p *Policies) Compare() *Report {
	progs := p.Programs
	rep := &Report{Sides: p.Sides}
	byName := map[string]*[2]*ir.Qube{}
	for i, prog := range progs {
		for k := range prog.Qubes {
			q := &prog.Qubes[k]
			if byName[q.Name] == nil {
				byName[q.Name] = &[2]*ir.Qube{}
			}
			byName[q.Name][i] = q
		}
	}
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		qs := byName[name]
		d := &Qube{Name: name}
		var ins [2]*reach.Input
		for i, q := range qs {
			if q == nil {
				ins[i] = &reach.Input{NoNetvm: true}
				continue
			}
			ins[i], d.At[i] = review.Enforcement(progs[i], q, p.Now, p.Lowered[i][q.Name])
		}
		rep.Qubes = append(rep.Qubes, d)
		if d.Removed() || sameEnforcement(ins, progs) {
			continue
		}
		names := append(reach.Names(ins[0]), reach.Names(ins[1])...)
		u := reach.NewUniverse(names)
		d.Unpinned = u.Names()
		d.Sets = [2]*reach.Set{reach.Compute(u, ins[0]), reach.Compute(u, ins[1])}
		d.Lines = reach.Summarise(u, d.Sets[0], d.Sets[1], reach.Diff(d.Sets[0], d.Sets[1]))
	}
	return rep
}

// sameEnforcement reports whether the two inputs are the same but for
// where the policy says the rules, so that no packet can change: most
// qubes of a change, which need no more work.
func sameEnforcement(ins [2]*reach.Input, progs [2]*ir.Program) bool {
	a, b := ins[0], ins[1]
	if a.NoNetvm || b.NoNetvm {
		return a.NoNetvm == b.NoNetvm
	}
	oa, ob := a.Options, b.Options
	if !slices.Equal(a.Families, b.Families) || !slices.Equal(oa.DNS4, ob.DNS4) || !slices.Equal(oa.DNS6, ob.DNS6) ||
		oa.DNSUnknown != ob.DNSUnknown || oa.Semantics != ob.Semantics || oa.NoNames != ob.NoNames ||
		oa.Self != ob.Self || oa.GatewayDNS != ob.GatewayDNS {
		return false
	}
	if !maps.EqualFunc(progs[0].Resolve, progs[1].Resolve, slices.Equal) {
		return false
	}
	for i := range a.Lists {
		if !slices.EqualFunc(a.Lists[i], b.Lists[i], func(x, y ir.Rule) bool {
			return x.Action == y.Action && x.Match == y.Match && x.Expire == y.Expire &&
				x.Origin.Kind == y.Origin.Kind && x.Origin.Name == y.Origin.Name
		}) {
			return false
		}
	}
	return true
}

// verdicts returns what each side does with the packets of a line: base,
// then head.
func verdicts(l *reach.Line) [2]ir.Action {
	if l.Widened {
		return [2]ir.Action{ir.Drop, ir.Accept}
	}
	return [2]ir.Action{ir.Accept, ir.Drop}
}

// reason says what decided the packets of line l on side i of q, as
// in "accept by allow.web (policy.cue:7:9)".
func (r *Report) reason(q *Qube, l *reach.Line, i int) string {
	action, why := verdicts(l)[i], [2]reach.Reason{l.Base, l.Head}[i]
	side := r.Sides[i]
	switch {
	case q.At[i] == nil:
		return fmt.Sprintf("%s: the %s policy does not name the qube", action, strings.ToLower(side.Which))
	case why.Kind == reach.ByRule:
		return fmt.Sprintf("%s by %s", action, r.ruleText(why.Rule, side))
	case why.Kind == reach.FinalDrop:
		return fmt.Sprintf("%s: no rule matches", action)
	case why.Kind == reach.Blocked:
		return fmt.Sprintf("%s: %s names %s, which has no IPv%d address, so %s refuses the whole IPv%d list",
			action, r.ruleText(why.Rule, side), why.Rule.Dst.Host, why.Family, q.At[i].Firewall, why.Family)
	case why.Kind == reach.NoAddress:
		return fmt.Sprintf("%s: the qube has no IPv%d address", action, why.Family)
	case why.Kind == reach.Self:
		return fmt.Sprintf("%s: the address of %s itself, which the unikernel decides before the rules", action, q.At[i].Firewall)
	}
	return fmt.Sprintf("%s: the qube has no netvm", action)
}

// ruleText names rule ru of side and where its policy says it.
func (r *Report) ruleText(ru *ir.Rule, side *source.Side) string {
	if ru.Origin.Name == "" {
		return "the rule " + qubes.FormatRule(*ru)
	}
	return fmt.Sprintf("%s (%s)", ru.Origin, side.Pos(ru.Origin.Pos))
}

// The JSON form of a report, format_version 1.0 of qfw diff --json.
type (
	// JSON is the whole report.
	JSON struct {
		FormatVersion string     `json:"format_version"`
		Base          string     `json:"base"`
		Head          string     `json:"head"`
		Changed       bool       `json:"changed"`
		Summary       Summary    `json:"summary"`
		Qubes         []QubeJSON `json:"qubes"`
	}
	// Summary counts the lines and the qubes' changes.
	Summary struct {
		Widened  int `json:"widened"`
		Narrowed int `json:"narrowed"`
		Added    int `json:"added"`
		Removed  int `json:"removed"`
		Moved    int `json:"moved"`
	}
	// QubeJSON is what changes for one qube.
	QubeJSON struct {
		Name string `json:"name"`
		// Change is "added", "removed", "moved" or "".
		Change   string            `json:"change,omitempty"`
		Base     *review.PlaceJSON `json:"base"`
		Head     *review.PlaceJSON `json:"head"`
		Widened  []LineJSON        `json:"widened"`
		Narrowed []LineJSON        `json:"narrowed"`
		Unpinned []string          `json:"unpinned_names,omitempty"`
	}
	// LineJSON is one line of packets that become reachable or stop
	// being reachable.
	LineJSON struct {
		review.LineJSON
		Base ReasonJSON `json:"base"`
		Head ReasonJSON `json:"head"`
	}
	// ReasonJSON is what decides a line's packets on one side.
	ReasonJSON struct {
		Verdict  string `json:"verdict"`
		Rule     string `json:"rule,omitempty"`
		Position string `json:"position,omitempty"`
		Text     string `json:"text"`
	}
)

// JSON returns the report in its JSON form.
func (r *Report) JSON() *JSON {
	doc := JSON{FormatVersion: "1.0", Base: r.Sides[0].Arg, Head: r.Sides[1].Arg, Changed: r.Changed(), Qubes: []QubeJSON{}}
	doc.Summary, _ = r.counts()
	for _, q := range r.Qubes {
		if !q.Interesting() {
			continue
		}
		j := QubeJSON{Name: q.Name, Widened: []LineJSON{}, Narrowed: []LineJSON{}}
		switch {
		case q.Added():
			j.Change = "added"
		case q.Removed():
			j.Change = "removed"
		case q.Moved():
			j.Change = "moved"
		}
		for i, at := range q.At {
			var p *review.PlaceJSON
			if at != nil {
				p = &review.PlaceJSON{Firewall: at.Firewall}
				if at.Firewall != "" {
					p.Backend = at.Backend.String()
				}
			}
			if i == 0 {
				j.Base = p
			} else {
				j.Head = p
			}
		}
		for k := range q.Lines {
			l := &q.Lines[k]
			lj := LineJSON{LineJSON: review.LineOf(l), Base: r.reasonJSON(q, l, 0), Head: r.reasonJSON(q, l, 1)}
			if l.Widened {
				j.Widened = append(j.Widened, lj)
			} else {
				j.Narrowed = append(j.Narrowed, lj)
			}
		}
		if len(q.Lines) > 0 {
			j.Unpinned = q.Unpinned
		}
		doc.Qubes = append(doc.Qubes, j)
	}
	return &doc
}

// counts returns how many lines widen and narrow access and how many
// qubes are added, removed and moved, for both summaries, and how many
// qubes' access changes.
func (r *Report) counts() (n Summary, changed int) {
	for _, q := range r.Qubes {
		for _, l := range q.Lines {
			if l.Widened {
				n.Widened++
			} else {
				n.Narrowed++
			}
		}
		if len(q.Lines) > 0 {
			changed++
		}
		switch {
		case q.Added():
			n.Added++
		case q.Removed():
			n.Removed++
		case q.Moved():
			n.Moved++
		}
	}
	return n, changed
}

// reasonJSON is what decided the packets of line l on side i of q.
func (r *Report) reasonJSON(q *Qube, l *reach.Line, i int) ReasonJSON {
	why := [2]reach.Reason{l.Base, l.Head}[i]
	j := ReasonJSON{Verdict: verdicts(l)[i].String(), Text: r.reason(q, l, i)}
	if q.At[i] != nil && why.Rule != nil && why.Rule.Origin.Name != "" {
		j.Rule, j.Position = why.Rule.Origin.String(), r.Sides[i].Pos(why.Rule.Origin.Pos)
	}
	return j
}
