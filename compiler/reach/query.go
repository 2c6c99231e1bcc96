package reach

import (
	"net/netip"

	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/space"
)

// Query is a part of the packet space that people ask about: a stretch of
// addresses of one family, some protocol classes, and the ports (or ICMP
// types) of them.
type Query struct {
	// First and Last are the first and the last address, of one family.
	First, Last netip.Addr
	// Ext asks about IPv6 packets with extension headers.
	Ext bool
	// Protos are the protocol classes: TCP, UDP, ICMP, Other.
	Protos []uint8
	// Ports, when set, are the ports of tcp and udp or the ICMP types of
	// icmp; else every one. A class without ports (Other) is asked whole.
	Ports *ir.PortRange
}

// Boxes returns the packets q asks about, as disjoint boxes of u.
func (q Query) Boxes() []space.Box {
	sp := SpaceIPv4
	switch {
	case q.First.Is6() && q.Ext:
		sp = SpaceIPv6Ext
	case q.First.Is6():
		sp = SpaceIPv6
	}
	var out []space.Box
	for _, p := range q.Protos {
		b := space.Box{Space: sp, Proto: p, Lo: space.FromAddr(q.First), Hi: space.FromAddr(q.Last), PHi: lastPort[p]}
		if q.Ports != nil && p != Other {
			if q.Ports.First > lastPort[p] {
				continue
			}
			b.PLo, b.PHi = q.Ports.First, min(q.Ports.Last, lastPort[p])
		}
		out = append(out, b)
	}
	return out
}

// Fates returns the fate of the packets of boxes, which must be disjoint,
// as changes from a set that decides nothing: a change is Widened where s
// accepts its packets, and Head names what accepts them; else Base names
// what drops them. [SummariseFates] tells them.
func (s *Set) Fates(boxes []space.Box) []Change {
	none := Cause{Kind: FinalDrop, Index: -1}
	var out []Change
	for _, q := range boxes {
		for _, r := range s.Regions {
			if !r.Box.Intersects(q) {
				continue
			}
			c := Change{Box: intersect(r.Box, q), Base: r.Cause, Head: none}
			if r.Action == ir.Accept {
				c.Widened, c.Base, c.Head = true, none, r.Cause
			}
			out = append(out, c)
		}
	}
	return out
}
