package compiler

import (
	"encoding/binary"
	"net/netip"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// The packet space of one qube's rules, for the coverage analysis: a
// destination (a point of the IPv4 or IPv6 address space, or an opaque
// name) times a protocol and its port or ICMP type.

// u128 is an unsigned 128-bit integer: an IPv6 address, or an IPv4 address
// in its low 32 bits.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

func (a u128) inc() u128 {
	if a.lo == ^uint64(0) {
		return u128{a.hi + 1, 0}
	}
	return u128{a.hi, a.lo + 1}
}

func (a u128) dec() u128 {
	if a.lo == 0 {
		return u128{a.hi - 1, ^uint64(0)}
	}
	return u128{a.hi, a.lo - 1}
}

func minU(a, b u128) u128 {
	if a.less(b) {
		return a
	}
	return b
}

func maxU(a, b u128) u128 {
	if a.less(b) {
		return b
	}
	return a
}

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

// box is a product of a destination interval and a port (or ICMP type)
// interval within one space and protocol; both intervals are inclusive.
type box struct {
	space    int
	proto    uint8
	lo, hi   u128
	plo, phi uint16
}

func (b box) intersects(e box) bool {
	return b.space == e.space && b.proto == e.proto &&
		!b.hi.less(e.lo) && !e.hi.less(b.lo) &&
		b.plo <= e.phi && e.plo <= b.phi
}

// subtract appends the parts of b outside e to out; b and e intersect.
func (b box) subtract(e box, out []box) []box {
	if b.lo.less(e.lo) {
		p := b
		p.hi = e.lo.dec()
		out = append(out, p)
	}
	if e.hi.less(b.hi) {
		p := b
		p.lo = e.hi.inc()
		out = append(out, p)
	}
	mid := b
	mid.lo, mid.hi = maxU(b.lo, e.lo), minU(b.hi, e.hi)
	if b.plo < e.plo {
		p := mid
		p.phi = e.plo - 1
		out = append(out, p)
	}
	if e.phi < b.phi {
		p := mid
		p.plo = e.phi + 1
		out = append(out, p)
	}
	return out
}

// space numbers the names of one qube's rules.
type space struct {
	hosts map[string]int
	ids   []int // the values of hosts, in the order of first use
}

func newSpace(rules []ir.Rule) *space {
	s := &space{hosts: map[string]int{}}
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
func (s *space) dsts(m ir.Match) []box {
	all := u128{^uint64(0), ^uint64(0)}
	switch {
	case m.DNS:
		return []box{{space: spaceDNS}}
	case m.Dst.Host != "":
		return []box{{space: s.hosts[m.Dst.Host]}}
	case m.Dst.Prefix.IsValid():
		lo, hi := prefixRange(m.Dst.Prefix)
		sp := spaceIPv6
		if m.Dst.Prefix.Addr().Is4() {
			sp = spaceIPv4
		}
		return []box{{space: sp, lo: lo, hi: hi}}
	}
	out := []box{{space: spaceIPv4, hi: u128{0, 0xffffffff}}, {space: spaceIPv6, hi: all}, {space: spaceDNS}}
	for _, id := range s.ids {
		out = append(out, box{space: id})
	}
	return out
}

// boxes returns the packet space m matches.
func (s *space) boxes(m ir.Match) []box {
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
	var out []box
	for _, d := range s.dsts(m) {
		for _, p := range protos {
			d.proto, d.plo, d.phi = p.proto, p.plo, p.phi
			out = append(out, d)
		}
	}
	return out
}

// prefixRange returns the first and last address of p.
func prefixRange(p netip.Prefix) (lo, hi u128) {
	a := p.Masked().Addr()
	if a.Is4() {
		b := a.As4()
		v := uint64(binary.BigEndian.Uint32(b[:]))
		host := uint64(1)<<(32-p.Bits()) - 1
		return u128{0, v}, u128{0, v | host}
	}
	b := a.As16()
	lo = u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
	hi = lo
	bits := 128 - p.Bits()
	switch {
	case bits >= 64:
		hi.lo = ^uint64(0)
		if bits == 128 {
			hi.hi = ^uint64(0)
		} else {
			hi.hi |= uint64(1)<<(bits-64) - 1
		}
	default:
		hi.lo |= uint64(1)<<bits - 1
	}
	return lo, hi
}
