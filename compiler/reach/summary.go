package reach

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/space"
)

// Reason is what decided some packets, as a summary tells it: a rule of
// the policy, the same in both families' lists and for every part of it,
// or what else decided.
type Reason struct {
	Kind CauseKind
	// Family is the address family for NoAddress, Blocked and Self, which
	// are about one family; else 0.
	Family int
	// Rule is the rule, for ByRule and Blocked: the first part of it that
	// decided, when it has several.
	Rule *ir.Rule
}

// reasonKey identifies a reason: the policy rule, by its origin.
type reasonKey struct {
	kind   CauseKind
	family int
	origin ir.Origin
	// rule stands for a rule without an origin, read from dom0.
	rule string
}

func (r Reason) key() reasonKey {
	k := reasonKey{kind: r.Kind, family: r.Family}
	if r.Rule != nil {
		k.origin = r.Rule.Origin
		if k.origin == (ir.Origin{}) {
			k.rule = r.Rule.Action.String() + " " + r.Rule.Match.String()
		}
	}
	return k
}

// reason returns the reason of cause c in s.
func reason(s *Set, c Cause) Reason {
	r := Reason{Kind: c.Kind}
	switch c.Kind {
	case ByRule:
		r.Rule = s.Rule(c)
	case Blocked:
		r.Rule, r.Family = s.Rule(c), c.Family
	case NoAddress, Self:
		r.Family = c.Family
	}
	return r
}

// dnsServers returns the addresses of the DNS servers of the clients of
// sets, as their firewall qubes see them, or the virtual servers whose
// queries go upstream.
func dnsServers(sets ...*Set) []netip.Addr {
	var out []netip.Addr
	for _, s := range sets {
		if s == nil {
			continue
		}
		o := &s.Input.Options
		out = append(out, o.DNS4...)
		out = append(out, o.DNS6...)
		if o.DNSUnknown {
			out = append(out, eval.QubesDNS()...)
		}
	}
	return out
}

// Summarise returns changes, of universe u, as lines: for each pair of
// causes, the destinations that share the same services, merged into the
// fewest prefixes. The lines depend on the packets alone, not on how the
// boxes cut them: two lists that accept the same packets for the same
// rules summarise alike. Widened access comes first. The causes of the
// changes are those of base and head, of universe u; base may be nil if
// no change has a base cause of a rule.
func Summarise(u *Universe, base, head *Set, changes []Change) []Line {
	return summarise(u, base, head, changes, true)
}

// SummariseFates returns fates, those of s for a question (see
// [Set.Fates]), as lines, as Summarise does: accepted packets first. The
// question is about one kind of IPv6 packets, with extension headers or
// without, so the lines do not tell them apart.
func SummariseFates(u *Universe, s *Set, fates []Change) []Line {
	return summarise(u, s, s, fates, false)
}

// summarise is Summarise; headers says whether IPv6 packets with
// extension headers and without are told apart.
func summarise(u *Universe, base, head *Set, changes []Change, headers bool) []Line {
	type groupKey struct {
		widened    bool
		base, head reasonKey
	}
	type group struct {
		base, head Reason
		changes    []Change
	}
	groups := map[groupKey]*group{}
	for _, c := range changes {
		rb, rh := reason(base, c.Base), reason(head, c.Head)
		k := groupKey{c.Widened, rb.key(), rh.key()}
		g := groups[k]
		if g == nil {
			g = &group{base: rb, head: rh}
			groups[k] = g
		}
		g.changes = append(g.changes, c)
	}
	servers := dnsServers(base, head)
	var out []Line
	for k, g := range groups {
		for _, l := range summariseGroup(u, g.changes, headers) {
			l.Widened, l.Base, l.Head = k.widened, g.base, g.head
			l.DNS = l.isDNS(servers)
			out = append(out, l)
		}
	}
	slices.SortFunc(out, compareLines)
	return out
}

// atom is a destination space as a summary reads it: a family's addresses,
// or a name in a family.
type atom struct {
	family int
	name   string
}

// item is a box as a summary reads it.
type item struct {
	lo, hi space.U128
	svc    svcPart
}

type svcPart struct {
	proto    uint8
	ext      bool
	plo, phi uint16
}

// segment is a stretch of an atom's destinations that share services.
type segment struct {
	at       atom
	lo, hi   space.U128
	services []Service
	key      string
}

func summariseGroup(u *Universe, cs []Change, headers bool) []Line {
	items := map[atom][]item{}
	for _, c := range cs {
		w := u.Where(c.Box.Space)
		a := atom{w.Family, w.Name}
		items[a] = append(items[a], item{c.Box.Lo, c.Box.Hi, svcPart{c.Box.Proto, w.Ext && headers, c.Box.PLo, c.Box.PHi}})
	}
	atoms := make([]atom, 0, len(items))
	for a := range items {
		atoms = append(atoms, a)
	}
	slices.SortFunc(atoms, func(a, b atom) int {
		return cmp.Or(cmp.Compare(a.name, b.name), cmp.Compare(a.family, b.family))
	})
	var segs []segment
	for _, a := range atoms {
		segs = append(segs, segments(a, items[a], headers)...)
	}
	// Destinations that share services share a line.
	byKey := map[string][]segment{}
	var keys []string
	for _, s := range segs {
		if _, ok := byKey[s.key]; !ok {
			keys = append(keys, s.key)
		}
		byKey[s.key] = append(byKey[s.key], s)
	}
	if len(keys) > 1 {
		if l, ok := withExcept(u, segs, len(keys)); ok {
			return []Line{l}
		}
	}
	out := make([]Line, 0, len(keys))
	for _, k := range keys {
		ss := byKey[k]
		out = append(out, Line{Services: ss[0].services, Dests: dests(u, ss)})
	}
	return out
}

// withExcept returns segs as one line with exceptions, all their services
// to all their destinations but some services to some destinations, if
// that takes fewer parts than the lines of each set of services, n: "udp
// to 10.139.1.0/24, except udp 53 to 10.139.1.1, 10.139.1.2".
func withExcept(u *Universe, segs []segment, n int) (Line, bool) {
	var all [numProtos][]ir.PortRange
	for _, s := range segs {
		for _, svc := range s.services {
			if svc.Headers != AnyHeaders {
				return Line{}, false
			}
			all[svc.Proto] = append(all[svc.Proto], svc.Ranges...)
		}
	}
	var services []Service
	for p := range numProtos {
		if rs := ir.MergeRanges(all[p]); len(rs) > 0 {
			all[p] = rs
			services = append(services, Service{Proto: p, Ranges: rs})
		}
	}
	byKey := map[string][]segment{}
	var keys []string
	for _, s := range segs {
		var have [numProtos][]ir.PortRange
		for _, svc := range s.services {
			have[svc.Proto] = svc.Ranges
		}
		var m []Service
		for p := range numProtos {
			if rs := subtractRanges(all[p], have[p]); len(rs) > 0 {
				m = append(m, Service{Proto: p, Ranges: rs})
			}
		}
		if len(m) == 0 {
			continue
		}
		key := serviceKey(m)
		ms := byKey[key]
		if k := len(ms); k > 0 && ms[k-1].at == s.at && ms[k-1].hi.Inc() == s.lo {
			ms[k-1].hi = s.hi
			continue
		}
		if ms == nil {
			keys = append(keys, key)
		}
		byKey[key] = append(ms, segment{at: s.at, lo: s.lo, hi: s.hi, services: m, key: key})
	}
	if len(keys) == 0 || len(keys) >= n {
		return Line{}, false
	}
	l := Line{Services: services, Dests: dests(u, segs)}
	for _, k := range keys {
		l.Except = append(l.Except, Part{Services: byKey[k][0].services, Dests: dests(u, byKey[k])})
	}
	slices.SortFunc(l.Except, func(a, b Part) int {
		return cmp.Or(compareDests(a.Dests, b.Dests), strings.Compare(serviceKey(a.Services), serviceKey(b.Services)))
	})
	return l, true
}

// segments cuts the items of atom a where their destinations start and
// end, and returns the stretches that items cover, each with its
// services, adjacent stretches of the same services joined.
func segments(a atom, items []item, headers bool) []segment {
	end := space.U128{}
	switch {
	case a.name != "":
	case a.family == 4:
		end = space.Max32
	default:
		end = space.Max128
	}
	var cuts []space.U128
	for _, it := range items {
		cuts = append(cuts, it.lo)
		if it.hi != end {
			cuts = append(cuts, it.hi.Inc())
		}
	}
	slices.SortFunc(cuts, space.U128.Compare)
	cuts = slices.Compact(cuts)
	var out []segment
	for i, lo := range cuts {
		hi := end
		if i+1 < len(cuts) {
			hi = cuts[i+1].Dec()
		}
		var parts []svcPart
		for _, it := range items {
			if !lo.Less(it.lo) && !it.hi.Less(lo) {
				parts = append(parts, it.svc)
			}
		}
		if len(parts) == 0 {
			continue
		}
		services := normalise(parts, headers && a.family == 6)
		key := serviceKey(services)
		if n := len(out); n > 0 && out[n-1].key == key && out[n-1].hi.Inc() == lo {
			out[n-1].hi = hi
			continue
		}
		out = append(out, segment{at: a, lo: lo, hi: hi, services: services, key: key})
	}
	return out
}

// normalise returns the services that parts hold, each protocol's ranges
// merged, by protocol. With ipv6, parts with and without extension headers
// are told apart where they differ.
func normalise(parts []svcPart, ipv6 bool) []Service {
	var plain, ext [numProtos][]ir.PortRange
	for _, p := range parts {
		r := ir.PortRange{First: p.plo, Last: p.phi}
		if p.ext {
			ext[p.proto] = append(ext[p.proto], r)
		} else {
			plain[p.proto] = append(plain[p.proto], r)
		}
	}
	var out []Service
	add := func(proto uint8, h Headers, rs []ir.PortRange) {
		if len(rs) > 0 {
			out = append(out, Service{Proto: proto, Headers: h, Ranges: rs})
		}
	}
	for p := range numProtos {
		pl := ir.MergeRanges(plain[p])
		if !ipv6 {
			add(p, AnyHeaders, pl)
			continue
		}
		ex := ir.MergeRanges(ext[p])
		add(p, AnyHeaders, intersectRanges(pl, ex))
		add(p, NoExtHeaders, subtractRanges(pl, ex))
		add(p, ExtHeaders, subtractRanges(ex, pl))
	}
	return out
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func serviceKey(services []Service) string {
	var b strings.Builder
	for _, s := range services {
		b.WriteString(s.String())
		b.WriteByte('|')
	}
	return b.String()
}

// compareLines orders lines: widened first, then by destination, then by
// services and causes.
func compareLines(a, b Line) int {
	return cmp.Or(
		boolCmp(b.Widened, a.Widened),
		compareDests(a.Dests, b.Dests),
		strings.Compare(serviceKey(a.Services), serviceKey(b.Services)),
		compareReason(a.Head, b.Head),
		compareReason(a.Base, b.Base),
	)
}

func compareDests(a, b Dests) int {
	if c := boolCmp(b.Any, a.Any); c != 0 || a.Any {
		return c
	}
	for i := 0; i < len(a.Prefixes) && i < len(b.Prefixes); i++ {
		pa, pb := a.Prefixes[i], b.Prefixes[i]
		if c := cmp.Or(pa.Addr().Compare(pb.Addr()), cmp.Compare(pa.Bits(), pb.Bits())); c != 0 {
			return c
		}
	}
	if c := cmp.Compare(len(b.Prefixes), len(a.Prefixes)); c != 0 {
		// Addresses before names.
		return c
	}
	for i := 0; i < len(a.Names) && i < len(b.Names); i++ {
		if c := strings.Compare(a.Names[i].String(), b.Names[i].String()); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a.Names), len(b.Names))
}

func compareReason(a, b Reason) int {
	ka, kb := a.key(), b.key()
	return cmp.Or(cmp.Compare(ka.kind, kb.kind), cmp.Compare(ka.family, kb.family),
		cmp.Compare(ka.origin.Pos.Filename(), kb.origin.Pos.Filename()), cmp.Compare(ka.origin.Pos.Offset(), kb.origin.Pos.Offset()),
		cmp.Compare(ka.origin.String(), kb.origin.String()), cmp.Compare(ka.rule, kb.rule))
}
