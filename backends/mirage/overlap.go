package mirage

import (
	"net/netip"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// The checks that decide whether moving or skipping a rule changes what a
// list does ask whether two rules may match one packet. They answer "may"
// conservatively, except where noted: a host name may resolve to any
// address, and a prefix may contain a name's addresses.

// Protocol classes, as rules tell packets apart.
const (
	classTCP = iota
	classUDP
	classICMP
	classOther
)

// span is the packets of one protocol class whose destination port (TCP,
// UDP) or ICMP type (ICMP) is in [lo, hi]; other protocols have neither.
type span struct {
	class  int
	lo, hi uint16
}

func (a span) overlaps(b span) bool { return a.class == b.class && a.lo <= b.hi && b.lo <= a.hi }

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

// spans returns what m matches besides its destination, as rd reads it.
func spans(m ir.Match, rd reader) []span {
	ports := span{lo: 0, hi: 65535}
	switch {
	case m.HasPorts:
		ports = span{lo: m.Ports.First, hi: m.Ports.Last}
	case m.DNS && (rd == linuxIPv6 || m.Proto == ir.AnyProto):
		ports = span{lo: 53, hi: 53}
	}
	tcp, udp := ports, ports
	tcp.class, udp.class = classTCP, classUDP
	icmp := span{class: classICMP, hi: 255}
	if m.HasICMPType && rd == unikernelIPv4 {
		icmp.lo, icmp.hi = uint16(m.ICMPType), uint16(m.ICMPType)
	}
	switch {
	case m.Proto == ir.TCP:
		return []span{tcp}
	case m.Proto == ir.UDP:
		return []span{udp}
	case m.Proto == ir.ICMP:
		return []span{icmp}
	case m.DNS:
		return []span{tcp, udp}
	}
	return []span{tcp, udp, icmp, {class: classOther}}
}

// spansOverlap reports whether a and b, read by rd, may match packets of
// one protocol, port and ICMP type.
func spansOverlap(a, b ir.Match, rd reader) bool {
	for _, x := range spans(a, rd) {
		for _, y := range spans(b, rd) {
			if x.overlaps(y) {
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
	return spansOverlap(drop, accept, unikernelIPv4)
}

// conflictsIPv6 reports whether r, a rule for both families, and d, an
// IPv6 rule before it, may decide one IPv6 packet differently, so that r
// cannot move before d. r's destination may meet d's prefix whatever it
// is: any, a name that may have IPv6 addresses there, or the DNS servers,
// which for a Linux firewall qube without a netvm of its own are those of
// its resolv.conf, IPv6 ones included.
func conflictsIPv6(r, d ir.Rule) bool {
	return r.Action != d.Action && spansOverlap(r.Match, d.Match, linuxIPv6)
}

// clientRanges are the addresses Qubes gives qubes (10.137.0.0/16) and
// disposables (10.138.0.0/16): what a destination must avoid so as not to
// reach the other clients of the firewall.
var clientRanges = []netip.Prefix{
	netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 137, 0, 0}), 16),
	netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 138, 0, 0}), 16),
}

// clientRangesOf returns the client ranges that m's destination meets in
// the unikernel. A name is assumed to resolve to public addresses and the
// DNS servers are 10.139.1.1 and .2, so neither meets them.
func clientRangesOf(m ir.Match) []netip.Prefix {
	if dnsOnly(m) || m.Dst.Host != "" {
		return nil
	}
	var out []netip.Prefix
	for _, c := range clientRanges {
		if m.Dst.IsAny() || m.Dst.Prefix.Overlaps(c) {
			out = append(out, c)
		}
	}
	return out
}

// dropsAll reports whether r drops every packet to every address of c.
func dropsAll(r ir.Rule, c netip.Prefix) bool {
	return r.Action == ir.Drop && r.Proto == ir.AnyProto && !r.DNS && r.Dst.Host == "" &&
		(r.Dst.IsAny() || r.Dst.Family() == 4 && r.Dst.Prefix.Bits() <= c.Bits() && r.Dst.Prefix.Contains(c.Addr()))
}
