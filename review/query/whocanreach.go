package query

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"

	"github.com/qfw-dev/qfw/compiler/eval"
)

// Reachers is who-can-reach's answer: for every qube of a policy, how much
// of a destination it can reach, and the fate of each part of it at each
// of its firewall qubes.
type Reachers struct {
	q Question
	// qubes are in order of name.
	qubes []qubeReach
}

// reachOf says how much of a destination a qube can reach.
type reachOf uint8

const (
	reachNone reachOf = iota
	reachPart
	reachAll
)

// reachFrom is how much a qube reaches when some of its packets are
// accepted and some dropped, at one firewall qube or at any of them.
func reachFrom(accepts, drops bool) reachOf {
	switch {
	case accepts && drops:
		return reachPart
	case accepts:
		return reachAll
	}
	return reachNone
}

func (r reachOf) String() string {
	return [...]string{"none", "part", "all"}[r]
}

// text is r as the text report says it.
func (r reachOf) text() string {
	return [...]string{"none of it", "part of it", "all of it"}[r]
}

// qubeReach is a qube's answer: how much it reaches, and the fate of each
// part at each of its firewall qubes (none without a netvm).
type qubeReach struct {
	name    string
	reach   reachOf
	answers []*answer
}

// WhoCanReach answers q for the packets from every qube of p. It fails if
// q names a host that the policy's resolve section pins no address for.
func WhoCanReach(p *Policy, q Question) (*Reachers, error) {
	res := eval.Table(p.Program.Resolve)
	qs, err := q.queries(res)
	if err != nil {
		return nil, err
	}
	out := &Reachers{q: q}
	for i := range p.Program.Qubes {
		from := &p.Program.Qubes[i]
		qr := qubeReach{name: from.Name}
		es := p.enforcers(from, res)
		var accepts, drops bool
		for k := range es {
			a := answerFor(&es[k], qs)
			qr.answers = append(qr.answers, a)
			accepts, drops = accepts || a.accepts(), drops || a.drops()
		}
		qr.reach = reachFrom(accepts, drops)
		out.qubes = append(out.qubes, qr)
	}
	slices.SortFunc(out.qubes, func(a, b qubeReach) int { return cmp.Compare(a.name, b.name) })
	return out, nil
}

// WriteText writes r as qfw who-can-reach prints it.
func (r *Reachers) WriteText(w io.Writer) error {
	b := bufio.NewWriter(w)
	if r.q.ExtHeaders {
		fmt.Fprintf(b, "who can reach %s, IPv6 packets with extension headers:\n", r.q.Text)
	} else {
		fmt.Fprintf(b, "who can reach %s:\n", r.q.Text)
	}
	for _, qr := range r.qubes {
		if len(qr.answers) == 0 {
			fmt.Fprintf(b, "  %s: none of it: it has no netvm, so its packets go nowhere\n", qr.name)
			continue
		}
		for _, a := range qr.answers {
			fmt.Fprintf(b, "  %s, behind %s: %s\n", qr.name, a.at, reachFrom(a.accepts(), a.drops()).text())
			a.writeParts(b, "      ", qr.name)
			a.writeUnpinned(b, "      ")
		}
	}
	return b.Flush()
}

// WriteJSON writes r as qfw who-can-reach --json prints it.
func (r *Reachers) WriteJSON(w io.Writer) error {
	type qubeJSON struct {
		Qube      string       `json:"qube"`
		Reach     string       `json:"reach"`
		NoNetvm   bool         `json:"no_netvm,omitempty"`
		Firewalls []answerJSON `json:"firewalls"`
	}
	doc := struct {
		FormatVersion string     `json:"format_version"`
		Destination   string     `json:"destination"`
		ExtHeaders    bool       `json:"ext_headers,omitempty"`
		Qubes         []qubeJSON `json:"qubes"`
	}{FormatVersion: formatVersion, Destination: r.q.Text, ExtHeaders: r.q.ExtHeaders, Qubes: []qubeJSON{}}
	for _, qr := range r.qubes {
		qj := qubeJSON{Qube: qr.name, Reach: qr.reach.String(), NoNetvm: len(qr.answers) == 0, Firewalls: []answerJSON{}}
		for _, a := range qr.answers {
			qj.Firewalls = append(qj.Firewalls, a.json(qr.name))
		}
		doc.Qubes = append(doc.Qubes, qj)
	}
	return writeJSON(w, doc)
}
