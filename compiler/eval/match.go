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
func (r *rule) match(p *Packet, dns []netip.Addr) tri {
	if r.skip {
		return no
	}
	switch {
	case r.proto != 0:
		if p.Proto != r.proto {
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
	switch {
	case r.dns:
		return r.matchAddrs(p, dns, true)
	case r.host != "":
		if p.Host == r.host {
			return yes
		}
		return r.matchAddrs(p, r.hostAddrs, r.hostKnown)
	case r.prefix.IsValid():
		if !p.Dst.IsValid() {
			return maybe
		}
		if r.prefix.Contains(p.Dst) {
			return yes
		}
		return no
	}
	return yes
}

// matchAddrs decides whether p goes to one of addrs, sorted; known says
// whether addrs are all the addresses there are.
func (r *rule) matchAddrs(p *Packet, addrs []netip.Addr, known bool) tri {
	if !p.Dst.IsValid() || !known {
		return maybe
	}
	if _, found := slices.BinarySearchFunc(addrs, p.Dst, netip.Addr.Compare); found {
		return yes
	}
	return no
}
