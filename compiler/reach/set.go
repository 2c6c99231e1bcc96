package reach

import (
	"net/netip"
	"slices"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/space"
)

// Input is one client as its firewall qube enforces its rules.
type Input struct {
	// Lists are the client's rules as the firewall qube reads them, for
	// IPv4 and IPv6.
	Lists [2][]ir.Rule
	// Families are the address families the client has an address in,
	// and so can send packets in.
	Families []int
	// Options are the evaluator's: the backend's semantics, the DNS
	// servers, the resolver.
	Options eval.Options
	// NoNetvm says the client has no netvm: its packets go nowhere.
	NoNetvm bool
}

// CauseKind says what decided a region's packets.
type CauseKind uint8

const (
	// ByRule is a rule of the list of the region's family.
	ByRule CauseKind = iota
	// FinalDrop is the drop that ends every list: no rule matched.
	FinalDrop
	// Blocked is a rule to a name without an address in the family,
	// which makes the firewall qube refuse the whole list.
	Blocked
	// NoAddress is the client's lack of an address in the family: it
	// sends no such packets.
	NoAddress
	// Self is the unikernel firewall's own address, which no rule decides.
	Self
	// NoNetvm is the client's lack of a netvm.
	NoNetvm
)

// Cause is what decided the fate of some packets.
type Cause struct {
	Kind CauseKind
	// Family is the family of the list that Index points into.
	Family int
	// Index is the rule, in its family's list, for ByRule and Blocked.
	Index int
}

// Region is a box of packets that meet one fate for one cause.
type Region struct {
	Box    space.Box
	Action ir.Action
	Cause  Cause
}

// Set is the fate of every packet a client can send, in one universe: its
// regions are disjoint and cover the universe.
type Set struct {
	Universe *Universe
	Input    *Input
	Regions  []Region
}

// Rule returns the rule that c names, or nil if it names none.
func (s *Set) Rule(c Cause) *ir.Rule {
	if c.Kind != ByRule && c.Kind != Blocked {
		return nil
	}
	return &s.Input.Lists[c.Family/6][c.Index]
}

// entry is a box of an ordered list of decisions: the first entry that
// holds a packet decides it.
type entry struct {
	box    space.Box
	action ir.Action
	cause  Cause
}

// Compute returns the fate of every packet of u that in's client can send.
func Compute(u *Universe, in *Input) *Set {
	s := &Set{Universe: u, Input: in}
	var prepared [2][]rule
	var blocked [2]int
	for i := range prepared {
		prepared[i], blocked[i] = prepare(in.Lists[i], 4+2*i, &in.Options)
	}
	for sp := range u.Spaces() {
		w := u.Where(sp)
		fi := w.Family / 6
		s.Regions = appendFirstMatch(s.Regions, entries(sp, w, in, prepared[fi], blocked[fi]))
	}
	return s
}

// entries returns, in order, the decisions of space sp, which stands for
// w, ending with the final drop.
func entries(sp int, w Where, in *Input, rules []rule, blocked int) []entry {
	all := func(action ir.Action, c Cause) []entry {
		var out []entry
		for _, b := range whole(sp) {
			out = append(out, entry{b, action, c})
		}
		return out
	}
	drop := func(k CauseKind, i int) []entry {
		return all(ir.Drop, Cause{Kind: k, Family: w.Family, Index: i})
	}
	switch {
	case in.NoNetvm:
		return drop(NoNetvm, -1)
	case !slices.Contains(in.Families, w.Family):
		return drop(NoAddress, -1)
	case blocked >= 0:
		return drop(Blocked, blocked)
	}
	opts := &in.Options
	var out []entry
	if self := opts.Self; w.Name == "" && opts.Semantics == eval.Mirage && self.IsValid() && self.Is4() == (w.Family == 4) {
		// The unikernel decides its own address before the rules: it
		// drops it all, but DNS over UDP on releases that send it on.
		at := space.FromAddr(self)
		c := Cause{Kind: Self, Family: w.Family, Index: -1}
		if opts.GatewayDNS {
			out = append(out, entry{space.Box{Space: sp, Proto: UDP, Lo: at, Hi: at, PLo: 53, PHi: 53}, ir.Accept, c})
		}
		for _, b := range whole(sp) {
			b.Lo, b.Hi = at, at
			out = append(out, entry{b, ir.Drop, c})
		}
	}
	if opts.DNSUnknown && sp == SpaceIPv4 {
		// A query to the virtual DNS servers reaches the rules with the
		// upstream server's address, which is not known: only rules to
		// every destination decide it.
		servers := eval.QubesDNS()
		for _, a := range servers {
			at := space.FromAddr(a)
			for i := range rules {
				r := &rules[i]
				if !r.matchesName("") {
					continue
				}
				for _, svc := range r.services(false) {
					if (svc.Proto == TCP || svc.Proto == UDP) && svc.PLo <= 53 && 53 <= svc.PHi {
						svc.Space, svc.Lo, svc.Hi, svc.PLo, svc.PHi = sp, at, at, 53, 53
						out = append(out, entry{svc, r.action, Cause{Kind: ByRule, Family: 4, Index: i}})
					}
				}
			}
			for _, p := range []uint8{TCP, UDP} {
				out = append(out, entry{space.Box{Space: sp, Proto: p, Lo: at, Hi: at, PLo: 53, PHi: 53}, ir.Drop, Cause{Kind: FinalDrop, Family: 4, Index: -1}})
			}
		}
	}
	var dns []netip.Addr
	if w.Family == 4 {
		dns = opts.DNS4
	} else {
		dns = opts.DNS6
	}
	for i := range rules {
		r := &rules[i]
		svcs := r.services(w.Ext)
		if len(svcs) == 0 {
			continue
		}
		var dsts []span
		if w.Name != "" {
			if r.matchesName(w.Name) {
				dsts = []span{{}}
			}
		} else {
			dsts = r.addrs(w.Family, dns, !opts.DNSUnknown)
		}
		c := Cause{Kind: ByRule, Family: w.Family, Index: i}
		for _, d := range dsts {
			for _, b := range svcs {
				b.Space, b.Lo, b.Hi = sp, d.lo, d.hi
				out = append(out, entry{b, r.action, c})
			}
		}
	}
	return append(out, drop(FinalDrop, -1)...)
}

// appendFirstMatch appends to out the regions of entries read in order:
// each entry decides what no entry before it holds.
func appendFirstMatch(out []Region, entries []entry) []Region {
	boxes := make([]space.Box, len(entries))
	ranks := make([]int, len(entries))
	for i, e := range entries {
		boxes[i], ranks[i] = e.box, i
	}
	idx := space.NewIndex(boxes, ranks)
	var earlier []int
	// The subtractions write into two buffers in turn, so that piece is
	// never the buffer being written.
	var bufs [2][]space.Box
	for i, e := range entries {
		piece := []space.Box{e.box}
		earlier = idx.Intersecting(e.box, i, earlier[:0])
		slices.Sort(earlier)
		next := 0
		for _, j := range earlier {
			if rest, met := space.Minus(piece, boxes[j], bufs[next]); met {
				bufs[next], piece = rest, rest
				next = 1 - next
			}
			if len(piece) == 0 {
				break
			}
		}
		for _, b := range piece {
			out = append(out, Region{Box: b, Action: e.action, Cause: e.cause})
		}
	}
	return out
}

// Lookup returns the region that holds the point b (a box of one packet),
// or nil if none does: then b is outside the universe.
func (s *Set) Lookup(b space.Box) *Region {
	for i := range s.Regions {
		if s.Regions[i].Box.Intersects(b) {
			return &s.Regions[i]
		}
	}
	return nil
}
