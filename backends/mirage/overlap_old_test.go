// The checks as overlap.go made them before they moved to the compiler's
// box model, kept to compare against.

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
	old_classTCP = iota
	old_classUDP
	old_classICMP
	old_classOther
)

// old_span is the packets of one protocol class whose destination port (TCP,
// UDP) or ICMP type (ICMP) is in [lo, hi]; other protocols have neither.
type old_span struct {
	class  int
	lo, hi uint16
}

func (a old_span) overlaps(b old_span) bool { return a.class == b.class && a.lo <= b.hi && b.lo <= a.hi }

// old_reader is whose reading of a rule's protocol part to model.
type old_reader uint8

const (
	// old_unikernelIPv4 is the unikernel in IPv4, the only family it reads:
	// specialtarget=dns counts only in a rule without a protocol.
	old_unikernelIPv4 old_reader = iota
	// old_linuxIPv6 is a Linux firewall qube in IPv6, where a list that the
	// unikernel ignores still means something: specialtarget=dns forces
	// port 53, and ICMP types are compared as ICMPv6 types by the agent
	// but mapped by qfw's nftables backend, so they are ignored here.
	old_linuxIPv6
)

// old_spans returns what m matches besides its destination, as rd reads it.
func old_spans(m ir.Match, rd old_reader) []old_span {
	ports := old_span{lo: 0, hi: 65535}
	switch {
	case m.HasPorts:
		ports = old_span{lo: m.Ports.First, hi: m.Ports.Last}
	case m.DNS && (rd == old_linuxIPv6 || m.Proto == ir.AnyProto):
		ports = old_span{lo: 53, hi: 53}
	}
	tcp, udp := ports, ports
	tcp.class, udp.class = old_classTCP, old_classUDP
	icmp := old_span{class: old_classICMP, hi: 255}
	if m.HasICMPType && rd == old_unikernelIPv4 {
		icmp.lo, icmp.hi = uint16(m.ICMPType), uint16(m.ICMPType)
	}
	switch {
	case m.Proto == ir.TCP:
		return []old_span{tcp}
	case m.Proto == ir.UDP:
		return []old_span{udp}
	case m.Proto == ir.ICMP:
		return []old_span{icmp}
	case m.DNS:
		return []old_span{tcp, udp}
	}
	return []old_span{tcp, udp, icmp, {class: old_classOther}}
}

// old_spansOverlap reports whether a and b, read by rd, may match packets of
// one protocol, port and ICMP type.
func old_spansOverlap(a, b ir.Match, rd old_reader) bool {
	for _, x := range old_spans(a, rd) {
		for _, y := range old_spans(b, rd) {
			if x.overlaps(y) {
				return true
			}
		}
	}
	return false
}

// old_dnsOnly reports whether the unikernel restricts m to the DNS servers:
// only a DNS rule without a protocol.
func old_dnsOnly(m ir.Match) bool { return m.DNS && m.Proto == ir.AnyProto }

// old_nameMayUndo reports whether accept, a later rule in the IPv4 list, may
// accept a packet that drop, a rule to a host name, would drop if the
// unikernel could resolve the name. Any destination, prefix or other name
// may hold the name's addresses. The Qubes virtual DNS servers are assumed
// not to: a rule restricted to them does not count.
func old_nameMayUndo(drop, accept ir.Match) bool {
	if old_dnsOnly(drop) || old_dnsOnly(accept) {
		return false
	}
	return old_spansOverlap(drop, accept, old_unikernelIPv4)
}

// old_conflictsIPv6 reports whether r, a rule for both families, and d, an
// IPv6 rule before it, may decide one IPv6 packet differently, so that r
// cannot move before d. r's destination may meet d's prefix whatever it
// is: any, a name that may have IPv6 addresses there, or the DNS servers,
// which for a Linux firewall qube without a netvm of its own are those of
// its resolv.conf, IPv6 ones included.
func old_conflictsIPv6(r, d ir.Rule) bool {
	return r.Action != d.Action && old_spansOverlap(r.Match, d.Match, old_linuxIPv6)
}

// old_clientRanges are the addresses Qubes gives qubes (10.137.0.0/16) and
// disposables (10.138.0.0/16): what a destination must avoid so as not to
// reach the other clients of the firewall.
var old_clientRanges = []netip.Prefix{
	netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 137, 0, 0}), 16),
	netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 138, 0, 0}), 16),
}

// old_clientRangesOf returns the client ranges that m's destination meets in
// the unikernel. A name is assumed to resolve to public addresses and the
// DNS servers are 10.139.1.1 and .2, so neither meets them.
func old_clientRangesOf(m ir.Match) []netip.Prefix {
	if old_dnsOnly(m) || m.Dst.Host != "" {
		return nil
	}
	var out []netip.Prefix
	for _, c := range old_clientRanges {
		if m.Dst.IsAny() || m.Dst.Prefix.Overlaps(c) {
			out = append(out, c)
		}
	}
	return out
}

// old_dropsAll reports whether r drops every packet to every address of c.
func old_dropsAll(r ir.Rule, c netip.Prefix) bool {
	return r.Action == ir.Drop && r.Proto == ir.AnyProto && !r.DNS && r.Dst.Host == "" &&
		(r.Dst.IsAny() || r.Dst.Family() == 4 && r.Dst.Prefix.Bits() <= c.Bits() && r.Dst.Prefix.Contains(c.Addr()))
}
