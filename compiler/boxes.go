package compiler

import (
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
	spaceDNS // the qube's DNS servers
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

// nameSpace numbers the names of one qube's rules.
type nameSpace struct {
	hosts map[string]int
	ids   []int // the values of hosts, in the order of first use
}

func newSpace(rules []ir.Rule) *nameSpace {
	s := &nameSpace{hosts: map[string]int{}}
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

// dsts returns the destination parts of m as boxes without protocol.
func (s *nameSpace) dsts(m ir.Match) []space.Box {
	switch {
	case m.DNS:
		return []space.Box{{Space: spaceDNS}}
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
	out := []space.Box{{Space: spaceIPv4, Hi: space.Max32}, {Space: spaceIPv6, Hi: space.Max128}, {Space: spaceDNS}}
	for _, id := range s.ids {
		out = append(out, space.Box{Space: id})
	}
	return out
}

// boxes returns the packet space m matches.
func (s *nameSpace) boxes(m ir.Match) []space.Box {
	type pr struct {
		proto    uint8
		plo, phi uint16
	}
	var protos []pr
	ports := func(p uint8) pr {
		if m.HasPorts {
			return pr{p, m.Ports.First, m.Ports.Last}
		}
		if m.DNS {
			return pr{p, 53, 53}
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
		protos = []pr{ports(pTCP), ports(pUDP)}
		if !m.DNS {
			protos = append(protos, pr{pICMP, 0, 255}, pr{pOther, 0, 0})
		}
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
