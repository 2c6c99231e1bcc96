package policytest

import (
	"net/netip"
	"slices"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/space"
)

// Probe describes the packets a test or an explain query stands for.
type Probe struct {
	// To is the destination: the zero Dst for any, a prefix for every
	// address in it, a host for the addresses the resolver gives it.
	To ir.Dst
	// Protos are the protocols to try.
	Protos []ir.Proto
	// HasPort and Port fix the destination port; without, every port.
	HasPort bool
	Port    uint16
	// HasICMPType and ICMPType fix the ICMP type; without, every type.
	// ICMPv6 says the type is an ICMPv6 type, tried in IPv6 only; else it
	// is tried in IPv4 only.
	HasICMPType bool
	ICMPType    uint8
	ICMPv6      bool
}

// Packets returns the packets that stand for p at e: one for each stretch
// of addresses, ports and ICMP types within which no rule of e's lists
// changes its mind, in the families the client has addresses in. Rules
// match ranges, so the fate of every packet p stands for is the fate of
// one of these.
func (e *Enforcer) Packets(p Probe, res eval.Resolver) []eval.Packet {
	var out []eval.Packet
	for _, family := range e.Families {
		list := e.List(family)
		for _, dst := range e.destinations(p, family, list, res) {
			// Only the rules that can match this destination split its
			// ports and types: the others do not change its fate.
			relevant := rulesFor(dst, list)
			for _, proto := range p.Protos {
				pkt := dst
				pkt.Proto = eval.ProtoNumber(proto, family)
				switch proto {
				case ir.TCP, ir.UDP:
					ports := portPoints(p, proto, relevant)
					if e.Options.GatewayDNS && dst.Dst == e.Options.Self && !p.HasPort {
						// DNS to the unikernel's own address, sent on.
						ports = slices.Compact(slices.Sorted(slices.Values(append(ports, 53, 54))))
					}
					for _, port := range ports {
						pkt.Port = port
						out = append(out, pkt)
					}
				case ir.ICMP:
					if p.HasICMPType && p.ICMPv6 != (family == 6) {
						// An ICMP type is IPv4's, an ICMPv6 type IPv6's.
						continue
					}
					for _, t := range typePoints(p, relevant) {
						pkt.ICMPType = t
						out = append(out, pkt)
					}
				case ir.AnyProto:
					// Every other protocol meets the same rules: GRE
					// stands for them.
					pkt.Proto = protoGRE
					out = append(out, pkt)
				}
			}
		}
	}
	return out
}

// protoGRE is the IP protocol number of GRE.
const protoGRE = 47

// rulesFor returns the rules of list whose destination can be dst's.
func rulesFor(dst eval.Packet, list []ir.Rule) []ir.Rule {
	if !dst.Dst.IsValid() {
		return list
	}
	var out []ir.Rule
	for _, r := range list {
		if !r.Dst.Prefix.IsValid() || r.Dst.Prefix.Contains(dst.Dst) {
			out = append(out, r)
		}
	}
	return out
}

// destinations returns one packet (destination only) for each stretch of
// p's destination in family.
func (e *Enforcer) destinations(p Probe, family int, list []ir.Rule, res eval.Resolver) []eval.Packet {
	switch {
	case p.To.Host != "":
		var addrs []netip.Addr
		known := false
		if res != nil {
			addrs, known = res.Resolve(p.To.Host, family)
		}
		if !known {
			// One packet to an unknown address of the name.
			return []eval.Packet{{Family: family, Host: p.To.Host}}
		}
		var out []eval.Packet
		for _, a := range addrs {
			if a.Is4() == (family == 4) {
				out = append(out, eval.Packet{Dst: a, Host: p.To.Host})
			}
		}
		return out
	case p.To.Prefix.IsValid():
		if p.To.Family() != family {
			return nil
		}
		return e.addrPoints(p.To.Prefix, family, list, res)
	}
	all := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	if family == 6 {
		all = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	return e.addrPoints(all, family, list, res)
}

// addrPoints returns the first address of within and of each stretch of it
// that the list's destinations start or end.
func (e *Enforcer) addrPoints(within netip.Prefix, family int, list []ir.Rule, res eval.Resolver) []eval.Packet {
	points := []netip.Addr{within.Addr()}
	add := func(a netip.Addr) {
		if a.IsValid() && within.Contains(a) {
			points = append(points, a)
		}
	}
	edges := func(first, last netip.Addr) {
		add(first)
		add(last.Next())
	}
	dns := e.Options.DNS4
	if e.Options.DNSUnknown && family == 4 {
		// Queries to the virtual servers are forwarded: their fate is
		// their own.
		dns = eval.QubesDNS()
	}
	if family == 6 {
		dns = e.Options.DNS6
	}
	for _, a := range dns {
		edges(a, a)
	}
	if self := e.Options.Self; e.Options.Semantics == eval.Mirage && self.IsValid() {
		// The unikernel decides its own address before the rules.
		edges(self, self)
	}
	for _, r := range list {
		switch {
		case r.Dst.Prefix.IsValid():
			_, last := space.PrefixRange(r.Dst.Prefix)
			edges(r.Dst.Prefix.Masked().Addr(), last.Addr(family == 4))
		case r.Dst.Host != "" && res != nil:
			addrs, _ := res.Resolve(r.Dst.Host, family)
			for _, a := range addrs {
				edges(a, a)
			}
		}
	}
	slices.SortFunc(points, netip.Addr.Compare)
	points = slices.Compact(points)
	out := make([]eval.Packet, len(points))
	for i, a := range points {
		out[i] = eval.Packet{Dst: a}
	}
	return out
}

// portPoints returns the ports to try for proto: p's port, or the first
// port of every stretch in which the list's port ranges for proto agree.
func portPoints(p Probe, proto ir.Proto, list []ir.Rule) []uint16 {
	if p.HasPort {
		return []uint16{p.Port}
	}
	points := []uint16{0}
	add := func(first, last uint16) {
		points = append(points, first)
		if last < 65535 {
			points = append(points, last+1)
		}
	}
	for _, r := range list {
		switch {
		case r.HasPorts && r.Proto == proto:
			add(r.Ports.First, r.Ports.Last)
		case r.DNS && (r.Proto == proto || r.Proto == ir.AnyProto):
			add(53, 53)
		}
	}
	slices.Sort(points)
	return slices.Compact(points)
}

// typePoints returns the ICMP types to try: p's type, or the first of every
// stretch in which the list's ICMP types agree. A rule's type may stand for
// its ICMPv6 counterpart (the nftables backend matches that in IPv6), so
// the counterparts' stretches are tried too; more points never hide one.
func typePoints(p Probe, list []ir.Rule) []uint8 {
	if p.HasICMPType {
		return []uint8{p.ICMPType}
	}
	points := []uint8{0}
	add := func(t uint8) {
		points = append(points, t)
		if t < 255 {
			points = append(points, t+1)
		}
	}
	for _, r := range list {
		if r.HasICMPType {
			add(r.ICMPType)
			if t6, ok := eval.ICMPv6For(r.ICMPType); ok {
				add(t6)
			}
		}
	}
	slices.Sort(points)
	return slices.Compact(points)
}
