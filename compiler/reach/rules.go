package reach

import (
	"net/netip"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/space"
)

// rule is one rule of a family's list as the firewall qube reads it: the
// decisions of eval's preparation, made once, so that the boxes of each
// space follow.
type rule struct {
	action ir.Action
	skip   bool
	prefix netip.Prefix
	host   string
	// hostKnown says whether hostAddrs are all of the name's addresses.
	hostKnown bool
	hostAddrs []netip.Addr
	dns       bool
	proto     ir.Proto
	hasPorts  bool
	ports     ir.PortRange
	hasType   bool
	icmpType  uint8
	// firstHeader says the protocol is matched in the IPv6 header's
	// next-header field: a packet with extension headers misses the rule.
	firstHeader bool
}

// prepare reads list, the list of family, as opts says its firewall qube
// does, and returns the index of the rule that blocks the whole list (a
// name without an address in family, read so), or -1.
func prepare(list []ir.Rule, family int, opts *eval.Options) ([]rule, int) {
	out := make([]rule, len(list))
	blocked := -1
	for i, r := range list {
		pr := rule{
			action: r.Action, prefix: r.Dst.Prefix, host: r.Dst.Host, dns: r.DNS, proto: r.Proto,
			hasPorts: r.HasPorts, ports: r.Ports, hasType: r.HasICMPType, icmpType: r.ICMPType,
		}
		pr.firstHeader = opts.Semantics == eval.LinuxAgent && family == 6 && r.Proto != ir.AnyProto
		switch {
		case r.DNS && opts.Semantics == eval.Mirage && r.Proto != ir.AnyProto:
			// The unikernel ignores the DNS target beside a protocol.
			pr.dns = false
		case r.DNS:
			pr.skip = eval.DNSMatchesNothing(r.Match, opts.Semantics)
			pr.hasPorts, pr.ports = true, ir.PortRange{First: 53, Last: 53}
		}
		if r.HasICMPType && opts.Semantics == eval.Nftables {
			t, ok := eval.NftablesICMPType(r.Match, family)
			pr.icmpType, pr.skip = t, pr.skip || !ok
		}
		if pr.host != "" {
			addrs, known := hostAddrs(opts, r, family)
			pr.hostAddrs, pr.hostKnown = addrs, known
			none := known && len(addrs) == 0
			switch {
			case opts.Semantics == eval.Mirage:
				pr.skip = pr.skip || opts.NoNames || none
			case opts.Semantics == eval.Nftables && r.Action == ir.Accept:
				pr.skip = pr.skip || none
			case none && blocked < 0:
				blocked = i
			}
		}
		out[i] = pr
	}
	return out, blocked
}

// services returns the protocols, ports and ICMP types r matches, as boxes
// without destination.
func (r *rule) services(ext bool) []space.Box {
	if r.skip || ext && r.firstHeader {
		return nil
	}
	var protos []uint8
	switch {
	case r.proto == ir.TCP:
		protos = []uint8{TCP}
	case r.proto == ir.UDP:
		protos = []uint8{UDP}
	case r.proto == ir.ICMP:
		protos = []uint8{ICMP}
	case r.dns:
		protos = []uint8{TCP, UDP}
	default:
		protos = []uint8{TCP, UDP, ICMP, Other}
	}
	var out []space.Box
	for _, p := range protos {
		// A packet's port is 0 but for tcp and udp, and its ICMP type 0
		// but for icmp: a rule's ports or type outside that miss it.
		port := ir.PortRange{First: 0, Last: lastPort[p]}
		if r.hasPorts {
			if p != TCP && p != UDP {
				if !r.ports.Contains(0) {
					continue
				}
			} else {
				port = r.ports
			}
		}
		if r.hasType {
			if p != ICMP {
				if r.icmpType != 0 {
					continue
				}
			} else {
				port = ir.PortRange{First: uint16(r.icmpType), Last: uint16(r.icmpType)}
			}
		}
		out = append(out, space.Box{Proto: p, PLo: port.First, PHi: port.Last})
	}
	return out
}

// span is an interval of destinations within a space.
type span struct{ lo, hi space.U128 }

func point(a netip.Addr) span { return span{space.FromAddr(a), space.FromAddr(a)} }

// addrs returns the addresses of family that r matches; dns are those the
// DNS target matches, known says whether they are known.
func (r *rule) addrs(family int, dns []netip.Addr, dnsKnown bool) []span {
	all := span{hi: space.Max32}
	if family == 6 {
		all.hi = space.Max128
	}
	inDst := func(a netip.Addr) bool {
		switch {
		case r.host != "":
			return r.hostKnown && containsAddr(r.hostAddrs, a)
		case r.prefix.IsValid():
			return r.prefix.Contains(a)
		}
		return true
	}
	if r.dns {
		if !dnsKnown {
			// Whether the servers are among them is not known.
			return nil
		}
		var out []span
		for _, a := range dns {
			if a.Is4() == (family == 4) && inDst(a) {
				out = append(out, point(a))
			}
		}
		return out
	}
	switch {
	case r.host != "":
		if !r.hostKnown {
			return nil
		}
		var out []span
		for _, a := range r.hostAddrs {
			if a.Is4() == (family == 4) {
				out = append(out, point(a))
			}
		}
		return out
	case r.prefix.IsValid():
		lo, hi := space.PrefixRange(r.prefix)
		return []span{{lo, hi}}
	}
	return []span{all}
}

// matchesName reports whether r matches a packet to name, whose address is
// not known, as certainly, not possibly, matching: a rule to that name, to
// every destination, or to the whole family. An empty name is a packet of
// no known address nor name, such as a DNS query forwarded upstream.
func (r *rule) matchesName(name string) bool {
	switch {
	case r.dns:
		return false
	case r.host != "":
		return name != "" && r.host == name
	case r.prefix.IsValid():
		return r.prefix.Bits() == 0
	}
	return true
}

func containsAddr(addrs []netip.Addr, a netip.Addr) bool {
	for _, b := range addrs {
		if a == b {
			return true
		}
	}
	return false
}
