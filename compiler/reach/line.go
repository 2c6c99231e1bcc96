package reach

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// Service is a protocol class and the ports (for tcp and udp) or ICMP
// types (for icmp) of it.
type Service struct {
	Proto uint8
	// Headers says which IPv6 packets the service is about: with
	// extension headers or without, where the two fare otherwise.
	Headers Headers
	// Ranges are the ports or types, sorted, neither overlapping nor
	// adjacent.
	Ranges []ir.PortRange
}

// Headers says which packets of a service are meant, by the extension
// headers of IPv6 packets.
type Headers uint8

const (
	// AnyHeaders is every packet: of IPv4, or of IPv6 with extension
	// headers or without.
	AnyHeaders Headers = iota
	// NoExtHeaders is IPv6 packets without extension headers only.
	NoExtHeaders
	// ExtHeaders is IPv6 packets with extension headers only.
	ExtHeaders
)

// All reports whether s holds every port or type of its protocol.
func (s Service) All() bool {
	return len(s.Ranges) == 1 && s.Ranges[0] == ir.PortRange{First: 0, Last: lastPort[s.Proto]}
}

// ProtoName returns s's protocol as a rule would say it, or "other" for
// every protocol but tcp, udp and icmp.
func (s Service) ProtoName() string { return protoNames[s.Proto] }

// String describes s: "tcp 22, 8000-8080", "icmp type 8", "udp".
func (s Service) String() string {
	var b strings.Builder
	switch {
	case s.Proto == Other:
		b.WriteString("other protocols")
	case s.All():
		b.WriteString(protoNames[s.Proto])
	default:
		b.WriteString(protoNames[s.Proto])
		if s.Proto == ICMP {
			b.WriteString(" type")
			if len(s.Ranges) > 1 || s.Ranges[0].First != s.Ranges[0].Last {
				b.WriteString("s")
			}
		}
		for i, r := range s.Ranges {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte(' ')
			b.WriteString(strconv.Itoa(int(r.First)))
			if r.Last != r.First {
				b.WriteByte('-')
				b.WriteString(strconv.Itoa(int(r.Last)))
			}
		}
	}
	switch s.Headers {
	case NoExtHeaders:
		b.WriteString(" without IPv6 extension headers")
	case ExtHeaders:
		b.WriteString(" with IPv6 extension headers")
	}
	return b.String()
}

// Services describes services: "any protocol" for every packet, else each
// service's description, joined by "; ".
func Services(services []Service) string {
	if len(services) == int(numProtos) && !slices.ContainsFunc(services, func(s Service) bool { return s.Headers != AnyHeaders || !s.All() }) {
		return "any protocol"
	}
	parts := make([]string, len(services))
	for i, s := range services {
		parts[i] = s.String()
	}
	return strings.Join(parts, "; ")
}

// Name is a host name as a destination.
type Name struct {
	Name string
	// Family is 4 or 6 when only the packets of that family are meant,
	// and 0 for both.
	Family int
}

func (n Name) String() string {
	if n.Family == 0 {
		return n.Name
	}
	return n.Name + " (IPv" + strconv.Itoa(n.Family) + ")"
}

// Dests are destinations: addresses, as the fewest prefixes that hold
// them, and names whose addresses are not known.
type Dests struct {
	// Any says the destinations are all of them, but for Except.
	Any bool
	// Prefixes are the addresses, less those in Except, in the fewest
	// prefixes and exceptions: a block of addresses that lacks a few is
	// said as its prefix, its holes in Except, where that is shorter
	// (10.0.0.0/8 less 10.137.0.9).
	Prefixes []netip.Prefix
	// Except are the addresses left out of Any, or of the prefix that
	// holds them.
	Except []netip.Prefix
	Names  []Name
}

// Strings returns each destination as people write it, as in
// "10.0.0.0/8", "0.0.0.0/0 (except 192.168.0.0/16)", "github.com".
func (d Dests) Strings() []string {
	if d.Any {
		if len(d.Except) > 0 {
			return []string{"any destination except " + strings.Join(prefixStrings(d.Except), ", ")}
		}
		return []string{"any destination"}
	}
	var out []string
	for _, p := range d.Prefixes {
		s := prefixStrings([]netip.Prefix{p})[0]
		var except []netip.Prefix
		for _, e := range d.Except {
			if p.Bits() <= e.Bits() && p.Contains(e.Addr()) {
				except = append(except, e)
			}
		}
		if len(except) > 0 {
			s += " (except " + strings.Join(prefixStrings(except), ", ") + ")"
		}
		out = append(out, s)
	}
	for _, n := range d.Names {
		out = append(out, n.String())
	}
	return out
}

// prefixStrings returns ps as people write them: an address alone without
// its length.
func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		if p.IsSingleIP() {
			out[i] = p.Addr().String()
		} else {
			out[i] = p.String()
		}
	}
	return out
}

// Part is services to destinations.
type Part struct {
	Services []Service
	Dests    Dests
}

// Line is one line of a summary: services to destinations, all decided by
// the same reasons.
type Line struct {
	Widened    bool
	Base, Head Reason
	Services   []Service
	Dests      Dests
	// Except are packets left out of Services to Dests.
	Except []Part
	// DNS says the packets are DNS queries to the qube's DNS servers:
	// the services are tcp or udp port 53, or both, and the destinations
	// some of the servers.
	DNS bool
}

// String returns "SERVICES to DESTINATIONS", where the services of DNS
// queries are "dns" (tcp and udp), "dns over udp" or "dns over tcp".
func (l *Line) String() string {
	svc := Services(l.Services)
	if l.DNS {
		switch len(l.Services) {
		case 2:
			svc = "dns"
		default:
			svc = "dns over " + protoNames[l.Services[0].Proto]
		}
	}
	out := svc + " to " + strings.Join(l.Dests.Strings(), ", ")
	for i, p := range l.Except {
		switch {
		case i == 0:
			out += ", except "
		case i == len(l.Except)-1:
			out += " and "
		default:
			out += "; "
		}
		out += Services(p.Services) + " to " + strings.Join(p.Dests.Strings(), ", ")
	}
	return out
}

// isDNS reports whether l is about DNS queries to servers alone.
func (l *Line) isDNS(servers []netip.Addr) bool {
	if len(l.Except) > 0 || l.Dests.Any || len(l.Dests.Names) > 0 || len(l.Dests.Except) > 0 || len(l.Dests.Prefixes) == 0 {
		return false
	}
	for _, s := range l.Services {
		if s.Proto != TCP && s.Proto != UDP || s.Headers != AnyHeaders || len(s.Ranges) != 1 || s.Ranges[0] != (ir.PortRange{First: 53, Last: 53}) {
			return false
		}
	}
	for _, p := range l.Dests.Prefixes {
		if !p.IsSingleIP() || !slices.Contains(servers, p.Addr()) {
			return false
		}
	}
	return true
}
