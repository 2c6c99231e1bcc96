package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/reach"
)

// verdicts returns what each side does with the packets of a line: base,
// then head.
func verdicts(l *reach.Line) [2]ir.Action {
	if l.Widened {
		return [2]ir.Action{ir.Drop, ir.Accept}
	}
	return [2]ir.Action{ir.Accept, ir.Drop}
}

// reasonText says what decided the packets of line l on side i of q, as
// in "accept by allow.web (policy.cue:7:9)".
func (r *diffReport) reasonText(q *qubeDiff, l *reach.Line, i int) string {
	action := verdicts(l)[i]
	why := l.Base
	if i == 1 {
		why = l.Head
	}
	side := r.sides[i]
	switch {
	case q.at[i] == nil:
		return fmt.Sprintf("%s: the %s policy does not name the qube", action, strings.ToLower(side.which))
	case why.Kind == reach.ByRule:
		return fmt.Sprintf("%s by %s", action, r.ruleText(why.Rule, side))
	case why.Kind == reach.FinalDrop:
		return fmt.Sprintf("%s: no rule matches", action)
	case why.Kind == reach.Blocked:
		return fmt.Sprintf("%s: %s names %s, which has no IPv%d address, so %s refuses the whole IPv%d list",
			action, r.ruleText(why.Rule, side), why.Rule.Dst.Host, why.Family, q.at[i].firewall, why.Family)
	case why.Kind == reach.NoAddress:
		return fmt.Sprintf("%s: the qube has no IPv%d address", action, why.Family)
	case why.Kind == reach.Self:
		return fmt.Sprintf("%s: the address of %s itself, which the unikernel decides before the rules", action, q.at[i].firewall)
	}
	return fmt.Sprintf("%s: the qube has no netvm", action)
}

// ruleText names rule ru of side and where its policy says it.
func (r *diffReport) ruleText(ru *ir.Rule, side *diffSide) string {
	if ru.Origin.Name == "" {
		return "the rule " + qubes.FormatRule(*ru)
	}
	return fmt.Sprintf("%s (%s)", ru.Origin, side.pos(ru.Origin.Pos))
}

// sections returns the qubes with widened and with narrowed access, and
// for each its lines of that kind.
func (r *diffReport) section(widened bool) []qubeLines {
	var out []qubeLines
	for _, q := range r.qubes {
		var ls []*reach.Line
		for i := range q.lines {
			if q.lines[i].Widened == widened {
				ls = append(ls, &q.lines[i])
			}
		}
		if len(ls) > 0 {
			out = append(out, qubeLines{q, ls})
		}
	}
	return out
}

type qubeLines struct {
	q     *qubeDiff
	lines []*reach.Line
}

// place says where q's rules are enforced, on the head side if it has
// one: "behind sys-firewall (qubes)".
func (q *qubeDiff) place() string {
	at := q.at[1]
	if at == nil {
		at = q.at[0]
	}
	if at.firewall == "" {
		return "no netvm"
	}
	return "behind " + at.String()
}

// qubeChange says what became of q itself, or "".
func (r *diffReport) qubeChange(q *qubeDiff) string {
	switch {
	case q.added():
		return "added, " + q.place()
	case q.removed():
		return "removed from the policy: it keeps the list it has until qfw apply --release"
	case q.moved():
		return fmt.Sprintf("moved from %s to %s", q.at[0], q.at[1])
	}
	return ""
}

// unpinnedText says which names of q are compared as names, or "".
func unpinnedText(q *qubeDiff) string {
	if len(q.unpinned) == 0 || len(q.lines) == 0 {
		return ""
	}
	return fmt.Sprintf("the resolve section pins no addresses for %s: rules to it are compared as rules to a name, met by rules to the same name and to any destination only",
		orList(q.unpinned))
}

// counts returns the numbers of widened and narrowed lines, and of the
// qubes that have any.
func (r *diffReport) counts() (widened, narrowed, qubesChanged int) {
	for _, q := range r.qubes {
		for _, l := range q.lines {
			if l.Widened {
				widened++
			} else {
				narrowed++
			}
		}
		if len(q.lines) > 0 {
			qubesChanged++
		}
	}
	return widened, narrowed, qubesChanged
}

func plural(n int, one, many string) string {
	switch n {
	case 0:
		return "no " + one
	case 1:
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// summary is the report's last line.
func (r *diffReport) summary() string {
	widened, narrowed, changed := r.counts()
	var parts []string
	if widened+narrowed == 0 {
		parts = append(parts, "no change in reachability")
	} else {
		parts = append(parts, fmt.Sprintf("%s and %s of access, in %s",
			plural(widened, "widening", "widenings"), plural(narrowed, "narrowing", "narrowings"), plural(changed, "qube", "qubes")))
	}
	var added, removed, moved int
	for _, q := range r.qubes {
		switch {
		case q.added():
			added++
		case q.removed():
			removed++
		case q.moved():
			moved++
		}
	}
	if added+removed+moved > 0 {
		parts = append(parts, fmt.Sprintf("qubes: %d added, %d removed, %d moved", added, removed, moved))
	}
	return strings.Join(parts, "; ")
}

func (r *diffReport) printText(w io.Writer) {
	fmt.Fprintf(w, "%s → %s\n", r.sides[0].arg, r.sides[1].arg)
	for _, widened := range []bool{true, false} {
		sec := r.section(widened)
		if len(sec) == 0 {
			continue
		}
		mark := "-"
		if widened {
			fmt.Fprintf(w, "\nwidened access, now reachable:\n")
			mark = "+"
		} else {
			fmt.Fprintf(w, "\nnarrowed access, no longer reachable:\n")
		}
		for _, ql := range sec {
			fmt.Fprintf(w, "  %s, %s:\n", ql.q.name, ql.q.place())
			for _, l := range ql.lines {
				fmt.Fprintf(w, "    %s %s\n", mark, l)
				fmt.Fprintf(w, "        now: %s\n", r.reasonText(ql.q, l, 1))
				fmt.Fprintf(w, "        was: %s\n", r.reasonText(ql.q, l, 0))
			}
		}
	}
	first := true
	for _, q := range r.qubes {
		if c := r.qubeChange(q); c != "" {
			if first {
				fmt.Fprintf(w, "\nqubes:\n")
				first = false
			}
			fmt.Fprintf(w, "  %s: %s\n", q.name, c)
		}
	}
	first = true
	for _, q := range r.qubes {
		if n := unpinnedText(q); n != "" {
			if first {
				fmt.Fprintf(w, "\nnotes:\n")
				first = false
			}
			fmt.Fprintf(w, "  %s: %s\n", q.name, n)
		}
	}
	fmt.Fprintf(w, "\n%s.\n", r.summary())
}

// mdCell escapes s for a cell of a markdown table.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "`", "'").Replace(s)
}

func (r *diffReport) printMarkdown(w io.Writer) {
	fmt.Fprintf(w, "### qfw diff: `%s` → `%s`\n\n", mdCell(r.sides[0].arg), mdCell(r.sides[1].arg))
	fmt.Fprintf(w, "%s.\n", capitalise(r.summary()))
	for _, widened := range []bool{true, false} {
		sec := r.section(widened)
		if len(sec) == 0 {
			continue
		}
		if widened {
			fmt.Fprintf(w, "\n#### Widened access (now reachable)\n\n")
		} else {
			fmt.Fprintf(w, "\n#### Narrowed access (no longer reachable)\n\n")
		}
		fmt.Fprintf(w, "| qube | packets | now | was |\n|---|---|---|---|\n")
		for _, ql := range sec {
			for _, l := range ql.lines {
				fmt.Fprintf(w, "| %s | %s | %s | %s |\n", mdCell(ql.q.name), mdCell(l.String()),
					mdCell(r.reasonText(ql.q, l, 1)), mdCell(r.reasonText(ql.q, l, 0)))
			}
		}
	}
	first := true
	for _, q := range r.qubes {
		if c := r.qubeChange(q); c != "" {
			if first {
				fmt.Fprintf(w, "\n#### Qubes\n\n")
				first = false
			}
			fmt.Fprintf(w, "- **%s**: %s\n", mdCell(q.name), mdCell(c))
		}
	}
	first = true
	for _, q := range r.qubes {
		if n := unpinnedText(q); n != "" {
			if first {
				fmt.Fprintf(w, "\n#### Notes\n\n")
				first = false
			}
			fmt.Fprintf(w, "- **%s**: %s\n", mdCell(q.name), mdCell(n))
		}
	}
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// The JSON form of diff's report, format_version 1.0.
type (
	diffJSON struct {
		FormatVersion string         `json:"format_version"`
		Base          string         `json:"base"`
		Head          string         `json:"head"`
		Changed       bool           `json:"changed"`
		Summary       diffSummary    `json:"summary"`
		Qubes         []diffQubeJSON `json:"qubes"`
	}
	diffSummary struct {
		Widened  int `json:"widened"`
		Narrowed int `json:"narrowed"`
		Added    int `json:"added"`
		Removed  int `json:"removed"`
		Moved    int `json:"moved"`
	}
	diffQubeJSON struct {
		Name string `json:"name"`
		// Change is "added", "removed", "moved" or "".
		Change   string         `json:"change,omitempty"`
		Base     *diffPlaceJSON `json:"base"`
		Head     *diffPlaceJSON `json:"head"`
		Widened  []diffLineJSON `json:"widened"`
		Narrowed []diffLineJSON `json:"narrowed"`
		Unpinned []string       `json:"unpinned_names,omitempty"`
	}
	diffPlaceJSON struct {
		Firewall string `json:"firewall,omitempty"`
		Backend  string `json:"backend,omitempty"`
	}
	diffLineJSON struct {
		Text         string            `json:"text"`
		Services     []diffServiceJSON `json:"services"`
		Destinations []string          `json:"destinations"`
		Except       []string          `json:"except,omitempty"`
		// Unless are packets left out of the services to the
		// destinations.
		Unless []diffPacketsJSON `json:"except_packets,omitempty"`
		// DNS says the packets are DNS queries to the qube's servers.
		DNS  bool           `json:"dns,omitempty"`
		Base diffReasonJSON `json:"base"`
		Head diffReasonJSON `json:"head"`
	}
	diffPacketsJSON struct {
		Services     []diffServiceJSON `json:"services"`
		Destinations []string          `json:"destinations"`
		Except       []string          `json:"except,omitempty"`
	}
	diffServiceJSON struct {
		Protocol string   `json:"protocol"`
		Ports    []string `json:"ports,omitempty"`
		Types    []string `json:"types,omitempty"`
		// Headers is "with-extension-headers" or "without-extension-
		// headers" for IPv6 packets of one kind only.
		Headers string `json:"ipv6_headers,omitempty"`
	}
	diffReasonJSON struct {
		Verdict  string `json:"verdict"`
		Rule     string `json:"rule,omitempty"`
		Position string `json:"position,omitempty"`
		Text     string `json:"text"`
	}
)

func (r *diffReport) printJSON(w io.Writer) error {
	doc := diffJSON{FormatVersion: "1.0", Base: r.sides[0].arg, Head: r.sides[1].arg, Changed: r.changed(), Qubes: []diffQubeJSON{}}
	for _, q := range r.qubes {
		if !q.interesting() {
			continue
		}
		j := diffQubeJSON{Name: q.name, Widened: []diffLineJSON{}, Narrowed: []diffLineJSON{}}
		switch {
		case q.added():
			j.Change = "added"
			doc.Summary.Added++
		case q.removed():
			j.Change = "removed"
			doc.Summary.Removed++
		case q.moved():
			j.Change = "moved"
			doc.Summary.Moved++
		}
		for i, at := range q.at {
			var p *diffPlaceJSON
			if at != nil {
				p = &diffPlaceJSON{Firewall: at.firewall}
				if at.firewall != "" {
					p.Backend = at.backend.String()
				}
			}
			if i == 0 {
				j.Base = p
			} else {
				j.Head = p
			}
		}
		for k := range q.lines {
			l := &q.lines[k]
			lj := diffLineJSON{Text: l.String(), Destinations: destsJSON(l.Dests),
				Base: r.reasonJSON(q, l, 0), Head: r.reasonJSON(q, l, 1)}
			lj.Services, lj.Except, lj.DNS = servicesJSON(l.Services), exceptJSON(l.Dests), l.DNS
			for _, p := range l.Except {
				lj.Unless = append(lj.Unless, diffPacketsJSON{Services: servicesJSON(p.Services), Destinations: destsJSON(p.Dests), Except: exceptJSON(p.Dests)})
			}
			if l.Widened {
				j.Widened = append(j.Widened, lj)
				doc.Summary.Widened++
			} else {
				j.Narrowed = append(j.Narrowed, lj)
				doc.Summary.Narrowed++
			}
		}
		if len(q.lines) > 0 {
			j.Unpinned = q.unpinned
		}
		doc.Qubes = append(doc.Qubes, j)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// destsJSON returns d's destinations, "any", prefixes and names, without
// the exceptions.
func destsJSON(d reach.Dests) []string {
	if d.Any {
		return []string{"any"}
	}
	var out []string
	for _, p := range d.Prefixes {
		out = append(out, p.String())
	}
	for _, n := range d.Names {
		out = append(out, n.String())
	}
	return out
}

func exceptJSON(d reach.Dests) []string {
	var out []string
	for _, p := range d.Except {
		out = append(out, p.String())
	}
	return out
}

func servicesJSON(services []reach.Service) []diffServiceJSON {
	out := make([]diffServiceJSON, len(services))
	for i, s := range services {
		out[i] = serviceJSON(s)
	}
	return out
}

func serviceJSON(s reach.Service) diffServiceJSON {
	j := diffServiceJSON{Protocol: s.ProtoName()}
	switch s.Headers {
	case reach.NoExtHeaders:
		j.Headers = "without-extension-headers"
	case reach.ExtHeaders:
		j.Headers = "with-extension-headers"
	}
	if s.All() {
		return j
	}
	ranges := make([]string, len(s.Ranges))
	for i, r := range s.Ranges {
		ranges[i] = fmt.Sprint(r.First)
		if r.Last != r.First {
			ranges[i] += fmt.Sprintf("-%d", r.Last)
		}
	}
	if s.Proto == reach.ICMP {
		j.Types = ranges
	} else {
		j.Ports = ranges
	}
	return j
}

func (r *diffReport) reasonJSON(q *qubeDiff, l *reach.Line, i int) diffReasonJSON {
	why := l.Base
	if i == 1 {
		why = l.Head
	}
	j := diffReasonJSON{Verdict: verdicts(l)[i].String(), Text: r.reasonText(q, l, i)}
	if q.at[i] != nil && why.Rule != nil && why.Rule.Origin.Name != "" {
		j.Rule, j.Position = why.Rule.Origin.String(), r.sides[i].pos(why.Rule.Origin.Pos)
	}
	return j
}
