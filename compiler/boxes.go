package compiler

import (
	"net/netip"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/space"
)

// The packet space of one qube's rules, for the coverage analysis: a
// destination (a point of the IPv4 or IPv6 address space, or an opaque
// name) times a protocol and its port or ICMP type.

// Spaces of destinations: the two address families, then one opaque point
// per name.
const (
	spaceIPv4 = iota
	spaceIPv6
	spaceDNS // the qube's DNS servers, when their addresses are not known
	spaceHosts
)

// Protocols as the analysis splits them; other stands for every protocol
// that is neither tcp, udp nor icmp.
const (
	pTCP = iota
	pUDP
	pICMP
	pOther
)

// DNS is what the DNS target (specialtarget=dns) matches in the rules of
// the qubes behind one firewall qube, as the analyses read it.
type DNS struct {
	// Servers are the addresses the DNS target matches, as the firewall
	// qube's rules see them, when they are known. When they are not (nil),
	// the DNS target is a destination of its own, which only "any" and
	// other DNS rules cover.
	Servers []netip.Addr
	// Semantics is the reading of DNS rules by the software that enforces
	// the rules.
	Semantics eval.Semantics
}

// QubesDNS is the DNS target for the qubes behind a Linux firewall qube
// that has a netvm of its own: Qubes' virtual DNS servers, 10.139.1.1 and
// 10.139.1.2, on port 53 (none in IPv6).
func QubesDNS() DNS { return DNS{Servers: eval.QubesDNS()} }

// nameSpace numbers the names of one qube's rules and knows its DNS
// servers.
type nameSpace struct {
	hosts map[string]int
	ids   []int // the values of hosts, in the order of first use
	dns   DNS
}

func newSpace(rules []ir.Rule, dns DNS) *nameSpace {
	s := &nameSpace{hosts: map[string]int{}, dns: dns}
	for _, r := range rules {
		if h := r.Dst.Host; h != "" {
			if _, ok := s.hosts[h]; !ok {
				s.hosts[h] = spaceHosts + len(s.hosts)
				s.ids = append(s.ids, s.hosts[h])
			}
		}
	}
	return s
}

// addrBox returns the box, without protocol, of the address a.
func addrBox(a netip.Addr) space.Box {
	sp := spaceIPv6
	if a.Is4() {
		sp = spaceIPv4
	}
	return space.Box{Space: sp, Lo: space.FromAddr(a), Hi: space.FromAddr(a)}
}

// dsts returns the destination parts of m, which is no DNS rule, as boxes
// without protocol.
func (s *nameSpace) dsts(m ir.Match) []space.Box {
	switch {
	case m.Dst.Host != "":
		return []space.Box{{Space: s.hosts[m.Dst.Host]}}
	case m.Dst.Prefix.IsValid():
		lo, hi := space.PrefixRange(m.Dst.Prefix)
		sp := spaceIPv6
		if m.Dst.Prefix.Addr().Is4() {
			sp = spaceIPv4
		}
		return []space.Box{{Space: sp, Lo: lo, Hi: hi}}
	}
	out := []space.Box{{Space: spaceIPv4, Hi: space.Max32}, {Space: spaceIPv6, Hi: space.Max128}}
	if s.dns.Servers == nil {
		out = append(out, space.Box{Space: spaceDNS})
	}
	for _, id := range s.ids {
		out = append(out, space.Box{Space: id})
	}
	return out
}

// dnsDsts returns the destinations of m, a DNS rule, as boxes without
// protocol, and whether they are exactly m's (else they hold m's).
func (s *nameSpace) dnsDsts(m ir.Match) ([]space.Box, bool) {
	if s.dns.Servers == nil {
		// Servers whose addresses are not known, the same for every DNS
		// rule: a point of its own. A destination beside the DNS target
		// narrows it by what is not known either.
		return []space.Box{{Space: spaceDNS}}, m.Dst.IsAny()
	}
	var out []space.Box
	for _, a := range s.dns.Servers {
		switch {
		case m.Dst.Host != "":
			// The servers that the name resolves to, which is not
			// known: at most all of them.
		case m.Dst.Prefix.IsValid() && !m.Dst.Prefix.Contains(a):
			continue
		}
		out = append(out, addrBox(a))
	}
	return out, m.Dst.Host == ""
}

// boxes returns the packet space m matches, and whether it is exactly
// that: when it is not, the boxes hold every packet m matches and more, so
// they can show m covered but never cover another rule.
func (s *nameSpace) boxes(m ir.Match) ([]space.Box, bool) {
	if !m.DNS {
		return s.plainBoxes(m), true
	}
	switch {
	case s.dns.Semantics == eval.Mirage && m.Proto != ir.AnyProto:
		// The unikernel ignores the DNS target beside a protocol, and
		// matches the protocol to every destination.
		m.DNS = false
		return s.plainBoxes(m), true
	case m.Proto == ir.ICMP || eval.DNSMatchesNothing(m, s.dns.Semantics):
		// A DNS rule whose ports leave out 53, or one for ICMP, whose
		// packets have no port 53: no packet at all.
		return nil, true
	}
	dsts, exact := s.dnsDsts(m)
	protos := []uint8{pTCP, pUDP}
	switch m.Proto {
	case ir.TCP:
		protos = []uint8{pTCP}
	case ir.UDP:
		protos = []uint8{pUDP}
	}
	out := make([]space.Box, 0, len(dsts)*len(protos))
	for _, d := range dsts {
		for _, p := range protos {
			d.Proto, d.PLo, d.PHi = p, 53, 53
			out = append(out, d)
		}
	}
	return out, exact
}

// plainBoxes returns the packet space of m, which the DNS target does not
// narrow.
func (s *nameSpace) plainBoxes(m ir.Match) []space.Box {
	type pr struct {
		proto    uint8
		plo, phi uint16
	}
	var protos []pr
	ports := func(p uint8) pr {
		if m.HasPorts {
			return pr{p, m.Ports.First, m.Ports.Last}
		}
		return pr{p, 0, 65535}
	}
	switch m.Proto {
	case ir.TCP:
		protos = []pr{ports(pTCP)}
	case ir.UDP:
		protos = []pr{ports(pUDP)}
	case ir.ICMP:
		if m.HasICMPType {
			protos = []pr{{pICMP, uint16(m.ICMPType), uint16(m.ICMPType)}}
		} else {
			protos = []pr{{pICMP, 0, 255}}
		}
	default:
		protos = []pr{ports(pTCP), ports(pUDP), {pICMP, 0, 255}, {pOther, 0, 0}}
	}
	var out []space.Box
	for _, d := range s.dsts(m) {
		for _, p := range protos {
			d.Proto, d.PLo, d.PHi = p.proto, p.plo, p.phi
			out = append(out, d)
		}
	}
	return out
}
