package reach

import (
	"net/netip"
	"slices"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/space"
)

// Protocol classes, the Proto of a box: the packets of every protocol
// other than tcp, udp and icmp meet the same rules, so one class stands
// for them all. A box's port interval is the destination port for tcp and
// udp, the ICMP (ICMPv6 in IPv6) type for icmp, and 0 for other.
const (
	TCP uint8 = iota
	UDP
	ICMP
	Other
	numProtos
)

// protoNames are the classes as a rule would say them.
var protoNames = [numProtos]string{"tcp", "udp", "icmp", "other"}

// lastPort is the highest value of a class's port interval.
var lastPort = [numProtos]uint16{65535, 65535, 255, 0}

// Spaces of destinations, the Space of a box. The first three are address
// spaces; after them come three per name that the resolver does not know:
// the name in IPv4, in IPv6, and in IPv6 with extension headers.
const (
	// SpaceIPv4 and SpaceIPv6 are the addresses of each family.
	SpaceIPv4 = iota
	SpaceIPv6
	// SpaceIPv6Ext is IPv6 packets that carry extension headers before
	// their upper-layer header, which the stock agent reads otherwise.
	SpaceIPv6Ext
	numFixed
)

// Universe is the packet space two sets are compared in: the address
// spaces and a point of its own for each name whose addresses are not
// known on one side or the other.
type Universe struct {
	names []string
}

// NewUniverse returns the universe with a point for each of names.
func NewUniverse(names []string) *Universe {
	names = slices.Clone(names)
	slices.Sort(names)
	return &Universe{names: slices.Compact(names)}
}

// Names returns the names that have points of their own, sorted.
func (u *Universe) Names() []string { return u.names }

// Spaces returns how many spaces u has.
func (u *Universe) Spaces() int { return numFixed + 3*len(u.names) }

// Where says what a space of a universe stands for.
type Where struct {
	// Family is 4 or 6.
	Family int
	// Ext says the packets carry IPv6 extension headers.
	Ext bool
	// Name is the name whose point the space is; empty for addresses.
	Name string
}

// Where returns what space sp stands for.
func (u *Universe) Where(sp int) Where {
	switch sp {
	case SpaceIPv4:
		return Where{Family: 4}
	case SpaceIPv6:
		return Where{Family: 6}
	case SpaceIPv6Ext:
		return Where{Family: 6, Ext: true}
	}
	k := sp - numFixed
	return Where{Family: 4 + 2*min(k%3, 1), Ext: k%3 == 2, Name: u.names[k/3]}
}

// last returns the last destination of space sp: the last address of its
// family, or 0 for a name's single point.
func last(sp int) space.U128 {
	switch sp {
	case SpaceIPv4:
		return space.Max32
	case SpaceIPv6, SpaceIPv6Ext:
		return space.Max128
	}
	return space.U128{}
}

// whole returns the boxes of every packet of space sp.
func whole(sp int) []space.Box {
	out := make([]space.Box, numProtos)
	for p := range numProtos {
		out[p] = space.Box{Space: sp, Proto: p, Hi: last(sp), PHi: lastPort[p]}
	}
	return out
}

// Names returns the host names of in's lists whose addresses its resolver
// does not know in a family whose list names them: the names that need a
// point of their own.
func Names(in *Input) []string {
	var out []string
	for i, list := range in.Lists {
		family := 4 + 2*i
		for _, r := range list {
			if r.Dst.Host == "" {
				continue
			}
			if _, known := hostAddrs(&in.Options, r, family); !known {
				out = append(out, r.Dst.Host)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// hostAddrs returns the addresses that r's host name stands for in
// family, as the firewall qube reads r, and whether they are known.
func hostAddrs(opts *eval.Options, r ir.Rule, family int) ([]netip.Addr, bool) {
	if opts.Semantics == eval.Nftables {
		return eval.HostAddrs(opts.Resolver, r.Dst.Host, family, r.Action)
	}
	if opts.Resolver == nil {
		return nil, false
	}
	return opts.Resolver.Resolve(r.Dst.Host, family)
}
