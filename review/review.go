package review

import (
	"fmt"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/reach"
	"github.com/qfw-dev/qfw/policytest"
)

// Place is where a qube's rules are enforced.
type Place struct {
	// Firewall is the netvm; empty for none.
	Firewall string
	Backend  ir.Backend
}

func (p *Place) String() string {
	if p.Firewall == "" {
		return "no netvm"
	}
	return fmt.Sprintf("%s (%s)", p.Firewall, p.Backend)
}

// Enforcement returns q's rules as its firewall qube enforces them,
// judging expiry at now, and where. l, if not nil, is the unikernel's
// reading of q's rules at now that the build lowered, read instead of
// lowering them again.
func Enforcement(prog *ir.Program, q *ir.Qube, now int64, l *mirage.Lowering) (*reach.Input, *Place) {
	es := policytest.Enforcers(prog, q, eval.Table(prog.Resolve), now, l)
	if len(es) == 0 {
		return &reach.Input{NoNetvm: true}, &Place{}
	}
	return Enforced(&es[0])
}

// Enforced returns the rules of e's client as e enforces them, and where.
func Enforced(e *policytest.Enforcer) (*reach.Input, *Place) {
	return &reach.Input{Lists: e.Lists, Families: e.Families, Options: e.Options}, &Place{Firewall: e.Firewall, Backend: e.Backend}
}

// The JSON forms of a reachability line's parts, format_version 1.0 of
// qfw show's, qfw explain's and qfw diff's output.
type (
	// PlaceJSON is where a qube's rules are enforced.
	PlaceJSON struct {
		Firewall string `json:"firewall,omitempty"`
		Backend  string `json:"backend,omitempty"`
	}
	// PacketsJSON is a set of packets: services to destinations.
	PacketsJSON struct {
		Services     []ServiceJSON `json:"services"`
		Destinations []string      `json:"destinations"`
		Except       []string      `json:"except,omitempty"`
	}
	// ServiceJSON is a protocol and its ports or ICMP types.
	ServiceJSON struct {
		Protocol string   `json:"protocol"`
		Ports    []string `json:"ports,omitempty"`
		Types    []string `json:"types,omitempty"`
		// Headers is "with-extension-headers" or "without-extension-
		// headers" for IPv6 packets of one kind only.
		Headers string `json:"ipv6_headers,omitempty"`
	}
)

// LineJSON is a reachability line's packets: the fields that the JSON
// lines of qfw show, qfw diff and qfw explain share.
type LineJSON struct {
	Text         string        `json:"text"`
	Services     []ServiceJSON `json:"services"`
	Destinations []string      `json:"destinations"`
	Except       []string      `json:"except,omitempty"`
	// Unless are packets left out of the services to the destinations.
	Unless []PacketsJSON `json:"except_packets,omitempty"`
	// DNS says the packets are DNS queries to the qube's servers.
	DNS bool `json:"dns,omitempty"`
}

// LineOf returns the JSON form of l's packets.
func LineOf(l *reach.Line) LineJSON {
	return LineJSON{
		Text: l.String(), Services: servicesJSON(l.Services),
		Destinations: destsJSON(l.Dests), Except: exceptJSON(l.Dests),
		Unless: packetsOf(l.Except), DNS: l.DNS,
	}
}

// packetsOf returns the JSON forms of packets left out of a line.
func packetsOf(ps []reach.Part) []PacketsJSON {
	var out []PacketsJSON
	for _, p := range ps {
		out = append(out, PacketsJSON{Services: servicesJSON(p.Services), Destinations: destsJSON(p.Dests), Except: exceptJSON(p.Dests)})
	}
	return out
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

// exceptJSON returns the addresses left out of d's destinations.
func exceptJSON(d reach.Dests) []string {
	var out []string
	for _, p := range d.Except {
		out = append(out, p.String())
	}
	return out
}

// servicesJSON returns the JSON forms of services.
func servicesJSON(services []reach.Service) []ServiceJSON {
	out := make([]ServiceJSON, len(services))
	for i, s := range services {
		out[i] = serviceJSON(s)
	}
	return out
}

// serviceJSON returns the JSON form of s.
func serviceJSON(s reach.Service) ServiceJSON {
	j := ServiceJSON{Protocol: s.ProtoName()}
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
