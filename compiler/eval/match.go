package eval

import (
	"net/netip"
	"slices"
)

// tri is the answer to "does this rule match": yes, no, or maybe, when it
// depends on an address that is not known.
type tri uint8

const (
	no tri = iota
	yes
	maybe
)

// match decides whether r matches p. It is the hot loop of Eval: the
// packet's own fields are compared first, since they are always known, and
// the destination last.
func (r *rule) match(p *Packet, f *familyRules) tri {
	if r.skip {
		return no
	}
	switch {
	case r.proto != 0:
		if p.Proto != r.proto || r.firstHeader && p.ExtHeaders {
			return no
		}
	case r.dns:
		if p.Proto != ProtoTCP && p.Proto != ProtoUDP {
			return no
		}
	}
	if r.hasPorts && (p.Port < r.ports.First || p.Port > r.ports.Last) {
		return no
	}
	if r.hasType && p.ICMPType != r.icmpType {
		return no
	}
	dst := yes
	if r.dns {
		// The DNS target and a destination, both: dom0 and the agents AND
		// them.
		if dst = matchAddrs(p, f.dns, !f.dnsUnknown); dst == no {
			return no
		}
	}
	switch {
	case r.host != "":
		if p.Host == r.host {
			return dst
		}
		return and(dst, matchAddrs(p, r.hostAddrs, r.hostKnown))
	case r.prefix.IsValid():
		switch {
		case r.prefix.Bits() == 0:
			// The whole family: every address, known or not.
			return dst
		case !p.Dst.IsValid():
			return and(dst, maybe)
		case r.prefix.Contains(p.Dst):
			return dst
		}
		return no
	}
	return dst
}

func and(a, b tri) tri {
	switch {
	case a == no || b == no:
		return no
	case a == yes && b == yes:
		return yes
	}
	return maybe
}

// matchAddrs decides whether p goes to one of addrs, sorted; known says
// whether addrs are all the addresses there are.
func matchAddrs(p *Packet, addrs []netip.Addr, known bool) tri {
	switch {
	case known && len(addrs) == 0:
		return no
	case !p.Dst.IsValid() || !known:
		return maybe
	}
	if _, found := slices.BinarySearchFunc(addrs, p.Dst, netip.Addr.Compare); found {
		return yes
	}
	return no
}
