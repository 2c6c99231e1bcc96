package mirage

import (
	"net/netip"

	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/space"
)

// The checks that decide whether moving or skipping a rule changes what a
// list does, and which other clients a rule lets a client reach, reason in
// the compiler's packet space (compiler/space), as its coverage analysis
// and the nftables backend do: a box is a destination interval times a
// protocol and an interval of its ports or ICMP types.
//
// Whether two rules may match one packet is answered conservatively,
// except where noted: a host name may resolve to any address, and a
// prefix may contain a name's addresses.

// Protocols as the unikernel tells packets apart, the Proto of a box;
// other stands for every protocol that is neither tcp, udp nor icmp, and
// its boxes have the single port 0.
const (
	protoTCP uint8 = iota
	protoUDP
	protoICMP
	protoOther
)

// Spaces of destinations: one point that stands for every destination,
// for the checks that take the destinations of any two rules to meet, and
// the IPv4 addresses.
const (
	spaceAnywhere = iota
	spaceIPv4
)

// reader is whose reading of a rule's protocol part to model.
type reader uint8

const (
	// unikernelIPv4 is the unikernel in IPv4, the only family it reads:
	// specialtarget=dns counts only in a rule without a protocol.
	unikernelIPv4 reader = iota
	// linuxIPv6 is a Linux firewall qube in IPv6, where a list that the
	// unikernel ignores still means something: specialtarget=dns forces
	// port 53, and ICMP types are compared as ICMPv6 types by the agent
	// but mapped by qfw's nftables backend, so they are ignored here.
	linuxIPv6
)

// boxes returns the packets that m may match at the destinations dsts
// (boxes whose protocol and ports are left zero), as rd reads m's protocol
// part.
func boxes(m ir.Match, rd reader, dsts []space.Box) []space.Box {
	plo, phi := uint16(0), uint16(65535)
	switch {
	case m.HasPorts:
		plo, phi = m.Ports.First, m.Ports.Last
	case m.DNS && (rd == linuxIPv6 || m.Proto == ir.AnyProto):
		plo, phi = 53, 53
	}
	type part struct {
		proto    uint8
		plo, phi uint16
	}
	tcp, udp, icmp, other := part{protoTCP, plo, phi}, part{protoUDP, plo, phi}, part{protoICMP, 0, 255}, part{protoOther, 0, 0}
	if m.HasICMPType && rd == unikernelIPv4 {
		icmp.plo, icmp.phi = uint16(m.ICMPType), uint16(m.ICMPType)
	}
	var parts []part
	switch {
	case m.Proto == ir.TCP:
		parts = []part{tcp}
	case m.Proto == ir.UDP:
		parts = []part{udp}
	case m.Proto == ir.ICMP:
		parts = []part{icmp}
	case m.DNS:
		parts = []part{tcp, udp}
	default:
		parts = []part{tcp, udp, icmp, other}
	}
	out := make([]space.Box, 0, len(dsts)*len(parts))
	for _, d := range dsts {
		for _, p := range parts {
			d.Proto, d.PLo, d.PHi = p.proto, p.plo, p.phi
			out = append(out, d)
		}
	}
	return out
}

// anywhere is the destination of a rule for a check that takes any two
// destinations to meet.
var anywhere = []space.Box{{Space: spaceAnywhere}}

// meet reports whether some box of a intersects some box of b.
func meet(a, b []space.Box) bool {
	for _, x := range a {
		for _, y := range b {
			if x.Intersects(y) {
				return true
			}
		}
	}
	return false
}

// dnsOnly reports whether the unikernel restricts m to the DNS servers:
// only a DNS rule without a protocol.
func dnsOnly(m ir.Match) bool { return m.DNS && m.Proto == ir.AnyProto }

// nameMayUndo reports whether accept, a later rule in the IPv4 list, may
// accept a packet that drop, a rule to a host name, would drop if the
// unikernel could resolve the name. Any destination, prefix or other name
// may hold the name's addresses. The Qubes virtual DNS servers are assumed
// not to: a rule restricted to them does not count.
func nameMayUndo(drop, accept ir.Match) bool {
	if dnsOnly(drop) || dnsOnly(accept) {
		return false
	}
	return meet(boxes(drop, unikernelIPv4, anywhere), boxes(accept, unikernelIPv4, anywhere))
}

// conflictsIPv6 reports whether r, a rule for both families, and d, an
// IPv6 rule before it, may decide one IPv6 packet differently, so that r
// cannot move before d. r's destination may meet d's prefix whatever it
// is: any, a name that may have IPv6 addresses there, or the DNS servers,
// which for a Linux firewall qube without a netvm of its own are those of
// its resolv.conf, IPv6 ones included.
func conflictsIPv6(r, d ir.Rule) bool {
	return r.Action != d.Action && meet(boxes(r.Match, linuxIPv6, anywhere), boxes(d.Match, linuxIPv6, anywhere))
}

// clientRanges are the addresses Qubes gives qubes (10.137.0.0/16) and
// disposables (10.138.0.0/16): what a destination must avoid so as not to
// reach the other clients of the firewall.
var clientRanges = []netip.Prefix{
	netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 137, 0, 0}), 16),
	netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 138, 0, 0}), 16),
}

// prefixBox returns the IPv4 prefix p as a box without protocol.
func prefixBox(p netip.Prefix) space.Box {
	lo, hi := space.PrefixRange(p)
	return space.Box{Space: spaceIPv4, Lo: lo, Hi: hi}
}

// ipv4Dsts returns the destinations of m among the IPv4 addresses of the
// client ranges, as boxes without protocol. A name is assumed to resolve
// to public addresses and the DNS servers are 10.139.1.1 and .2, so
// neither has any there.
func ipv4Dsts(m ir.Match) []space.Box {
	switch {
	case dnsOnly(m) || m.Dst.Host != "" || m.Dst.Family() == 6:
		return nil
	case m.Dst.IsAny():
		return []space.Box{{Space: spaceIPv4, Hi: space.Max32}}
	}
	return []space.Box{prefixBox(m.Dst.Prefix)}
}

// clientRangesOf returns the client ranges that m's destination meets in
// the unikernel.
func clientRangesOf(m ir.Match) []netip.Prefix {
	dsts := ipv4Dsts(m)
	var out []netip.Prefix
	for _, c := range clientRanges {
		if meet(dsts, []space.Box{prefixBox(c)}) {
			out = append(out, c)
		}
	}
	return out
}

// dropsAll reports whether r drops every packet to every address of c:
// whether r's packets leave nothing of c's.
func dropsAll(r ir.Rule, c netip.Prefix) bool {
	if r.Action != ir.Drop {
		return false
	}
	rest := boxes(ir.Match{}, unikernelIPv4, []space.Box{prefixBox(c)})
	for _, b := range boxes(r.Match, unikernelIPv4, ipv4Dsts(r.Match)) {
		rest, _ = space.Minus(rest, b, nil)
	}
	return len(rest) == 0
}
