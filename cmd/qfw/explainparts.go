package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/reach"
	"github.com/qfw-dev/qfw/internal/jsonfile"
	"github.com/qfw-dev/qfw/internal/workdir"
	"github.com/qfw-dev/qfw/policytest"
	"github.com/qfw-dev/qfw/review"
)

// partsFormatVersion is the version of the JSON of explain's and
// who-can-reach's per-part answers.
const partsFormatVersion = "1.0"

// queries returns the packets d asks about, of the ICMP type t if set,
// with IPv6 extension headers if ext. A host name stands for the addresses
// that res pins for it; one it pins none for is refused, as the parts are
// parts of the address space.
func (d dest) queries(t icmpTypeValue, ext bool, res eval.Resolver) ([]reach.Query, error) {
	var stretches [][2]netip.Addr
	switch {
	case d.many():
		stretches = append(stretches, [2]netip.Addr{d.first, d.last})
	case d.to.Host != "":
		for _, fam := range []int{4, 6} {
			addrs, known := res.Resolve(d.to.Host, fam)
			if !known {
				return nil, fmt.Errorf("the resolve section pins no addresses for %q: ask about an address, a prefix or a range", d.to.Host)
			}
			for _, a := range addrs {
				stretches = append(stretches, [2]netip.Addr{a, a})
			}
		}
		if len(stretches) == 0 {
			return nil, fmt.Errorf("%q has no address: the resolve section pins none for it", d.to.Host)
		}
	case d.to.Prefix.IsValid():
		a := d.to.Prefix.Addr()
		stretches = append(stretches, [2]netip.Addr{a, a})
	default:
		stretches = append(stretches,
			[2]netip.Addr{netip.IPv4Unspecified(), netip.AddrFrom4([4]byte{255, 255, 255, 255})},
			[2]netip.Addr{netip.IPv6Unspecified(), netip.AddrFrom16([16]byte{0: 0xff, 1: 0xff, 2: 0xff, 3: 0xff, 4: 0xff, 5: 0xff, 6: 0xff, 7: 0xff, 8: 0xff, 9: 0xff, 10: 0xff, 11: 0xff, 12: 0xff, 13: 0xff, 14: 0xff, 15: 0xff})})
	}
	var protos []uint8
	switch d.proto {
	case ir.TCP:
		protos = []uint8{reach.TCP}
	case ir.UDP:
		protos = []uint8{reach.UDP}
	case ir.ICMP:
		protos = []uint8{reach.ICMP}
	default:
		protos = []uint8{reach.TCP, reach.UDP, reach.ICMP, reach.Other}
	}
	var ports *ir.PortRange
	switch {
	case d.port != 0:
		ports = &ir.PortRange{First: d.port, Last: d.port}
	case t.set:
		ports = &ir.PortRange{First: uint16(t.n), Last: uint16(t.n)}
	}
	out := make([]reach.Query, len(stretches))
	for i, s := range stretches {
		out[i] = reach.Query{First: s[0], Last: s[1], Ext: ext && s[0].Is6(), Protos: protos, Ports: ports}
	}
	return out, nil
}

// answer is the fate of the packets of a question at one firewall qube:
// lines of packets with their verdict and what decides it, accepted
// first, then by destination.
type answer struct {
	at       review.Place
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

// answerFor returns the fate of the packets of qs at e, q's firewall qube.
func answerFor(e *policytest.Enforcer, qs []reach.Query) *answer {
	in := &reach.Input{Lists: e.Lists, Families: e.Families, Options: e.Options}
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
		at:       review.Place{Firewall: e.Firewall, Backend: e.Backend},
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

// partFate says what decides the packets of l, sent by qube from.
func partFate(from string, a *answer, l *reach.Line) string {
	verdict, r := verdictOf(l)
	switch r.Kind {
	case reach.ByRule:
		return fmt.Sprintf("%s by %s", verdict, describeRule(r.Rule))
	case reach.Blocked:
		return fmt.Sprintf("drop: %s names %s, which has no IPv%d address, so %s refuses the whole IPv%d list and drops everything",
			describeRule(r.Rule), r.Rule.Dst.Host, r.Family, a.at.Firewall, r.Family)
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

// printParts prints the lines of a, indented by indent.
func printParts(w io.Writer, indent, from string, a *answer) {
	for i := range a.lines {
		l := &a.lines[i]
		fmt.Fprintf(w, "%s%s: %s\n", indent, l, partFate(from, a, l))
		for _, e := range a.enforced(l) {
			fmt.Fprintf(w, "%s    %s\n", indent, e)
		}
	}
}

// explainParts answers explain per part of the packets that d asks about.
func explainParts(w io.Writer, prog *ir.Program, q *ir.Qube, d dest, f *explainFlags) error {
	res := eval.Table(prog.Resolve)
	qs, err := d.queries(f.icmpType, f.extHeaders, res)
	if err != nil {
		return fmt.Errorf("--to %s: %w", f.to, err)
	}
	var answers []*answer
	enforcers := policytest.Enforcers(prog, q, res, f.now.t.Unix())
	for i := range enforcers {
		answers = append(answers, answerFor(&enforcers[i], qs))
	}
	if f.json {
		return printPartsJSON(w, q.Name, f, answers)
	}
	if f.extHeaders {
		fmt.Fprintf(w, "%s → %s, IPv6 packets with extension headers\n", q.Name, f.to)
	} else {
		fmt.Fprintf(w, "%s → %s\n", q.Name, f.to)
	}
	if len(answers) == 0 {
		fmt.Fprintf(w, "  drop: %s has no netvm, so its packets go nowhere\n", q.Name)
		return nil
	}
	for _, a := range answers {
		fmt.Fprintf(w, "%s:\n", &a.at)
		printParts(w, "  ", q.Name, a)
		if f.extHeaders && slices.ContainsFunc(qs, func(q reach.Query) bool { return q.First.Is6() }) {
			explainExtHeaders(w, a.enforcer)
		}
		if len(a.unpinned) > 0 {
			fmt.Fprintf(w, "  note: the resolve section pins no addresses for %s: its rules count for no address here, and would decide where it resolves to\n", jsonfile.OrList(a.unpinned))
		}
	}
	return nil
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

func answerToJSON(from string, a *answer) answerJSON {
	out := answerJSON{Firewall: a.at.Firewall, Backend: a.at.Backend.String(), Parts: []partJSON{}, Unpinned: a.unpinned}
	for i := range a.lines {
		l := &a.lines[i]
		verdict, r := verdictOf(l)
		pj := partJSON{Verdict: verdict.String(), LineJSON: review.LineOf(l), Why: partFate(from, a, l)}
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

func printPartsJSON(w io.Writer, from string, f *explainFlags, answers []*answer) error {
	doc := struct {
		FormatVersion string       `json:"format_version"`
		From          string       `json:"from"`
		To            string       `json:"to"`
		ExtHeaders    bool         `json:"ext_headers,omitempty"`
		NoNetvm       bool         `json:"no_netvm,omitempty"`
		Firewalls     []answerJSON `json:"firewalls"`
	}{FormatVersion: partsFormatVersion, From: from, To: f.to, ExtHeaders: f.extHeaders, NoNetvm: len(answers) == 0, Firewalls: []answerJSON{}}
	for _, a := range answers {
		doc.Firewalls = append(doc.Firewalls, answerToJSON(from, a))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
