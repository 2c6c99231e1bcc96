package reach

import (
	"cmp"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/space"
)

// Service is a protocol class and the ports (for tcp and udp) or ICMP
// types (for icmp) of it.
type Service struct {
	Proto uint8
	// Headers says which IPv6 packets the service is about: with
	// extension headers or without, where the two fare otherwise.
	Headers Headers
	// Ranges are the ports or types, sorted, neither overlapping nor
	// adjacent.
	Ranges []ir.PortRange
}

// Headers says which packets of a service are meant, by the extension
// headers of IPv6 packets.
type Headers uint8

const (
	// AnyHeaders is every packet: of IPv4, or of IPv6 with extension
	// headers or without.
	AnyHeaders Headers = iota
	// NoExtHeaders is IPv6 packets without extension headers only.
	NoExtHeaders
	// ExtHeaders is IPv6 packets with extension headers only.
	ExtHeaders
)

// All reports whether s holds every port or type of its protocol.
func (s Service) All() bool {
	return len(s.Ranges) == 1 && s.Ranges[0] == ir.PortRange{First: 0, Last: lastPort[s.Proto]}
}

// ProtoName returns s's protocol as a rule would say it, or "other" for
// every protocol but tcp, udp and icmp.
func (s Service) ProtoName() string { return protoNames[s.Proto] }

// String describes s: "tcp 22, 8000-8080", "icmp type 8", "udp".
func (s Service) String() string {
	var b strings.Builder
	switch {
	case s.Proto == Other:
		b.WriteString("other protocols")
	case s.All():
		b.WriteString(protoNames[s.Proto])
	default:
		b.WriteString(protoNames[s.Proto])
		if s.Proto == ICMP {
			b.WriteString(" type")
			if len(s.Ranges) > 1 || s.Ranges[0].First != s.Ranges[0].Last {
				b.WriteString("s")
			}
		}
		for i, r := range s.Ranges {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte(' ')
			b.WriteString(strconv.Itoa(int(r.First)))
			if r.Last != r.First {
				b.WriteByte('-')
				b.WriteString(strconv.Itoa(int(r.Last)))
			}
		}
	}
	switch s.Headers {
	case NoExtHeaders:
		b.WriteString(" without IPv6 extension headers")
	case ExtHeaders:
		b.WriteString(" with IPv6 extension headers")
	}
	return b.String()
}

// Services describes services: "any protocol" for every packet, else each
// service's description, joined by "; ".
func Services(services []Service) string {
	if len(services) == int(numProtos) && !slices.ContainsFunc(services, func(s Service) bool { return s.Headers != AnyHeaders || !s.All() }) {
		return "any protocol"
	}
	parts := make([]string, len(services))
	for i, s := range services {
		parts[i] = s.String()
	}
	return strings.Join(parts, "; ")
}

// Name is a host name as a destination.
type Name struct {
	Name string
	// Family is 4 or 6 when only the packets of that family are meant,
	// and 0 for both.
	Family int
}

func (n Name) String() string {
	if n.Family == 0 {
		return n.Name
	}
	return n.Name + " (IPv" + strconv.Itoa(n.Family) + ")"
}

// Dests are destinations: addresses, as the fewest prefixes that hold
// them, and names whose addresses are not known.
type Dests struct {
	// Any says the destinations are all of them, but for Except.
	Any bool
	// Prefixes are the addresses, less those in Except. A family's
	// addresses are said as all of them (0.0.0.0/0 or ::/0) but some
	// where that takes fewer prefixes.
	Prefixes []netip.Prefix
	// Except are the addresses left out of Any, or of the prefix of all
	// addresses of their family.
	Except []netip.Prefix
	Names  []Name
}

// Strings returns each destination as people write it, as in
// "10.0.0.0/8", "0.0.0.0/0 (except 192.168.0.0/16)", "github.com".
func (d Dests) Strings() []string {
	if d.Any {
		if len(d.Except) > 0 {
			return []string{"any destination except " + strings.Join(prefixStrings(d.Except), ", ")}
		}
		return []string{"any destination"}
	}
	var out []string
	for _, p := range d.Prefixes {
		s := prefixStrings([]netip.Prefix{p})[0]
		var except []netip.Prefix
		for _, e := range d.Except {
			if p.Bits() == 0 && e.Addr().Is4() == p.Addr().Is4() {
				except = append(except, e)
			}
		}
		if len(except) > 0 {
			s += " (except " + strings.Join(prefixStrings(except), ", ") + ")"
		}
		out = append(out, s)
	}
	for _, n := range d.Names {
		out = append(out, n.String())
	}
	return out
}

// prefixStrings returns ps as people write them: an address alone without
// its length.
func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		if p.IsSingleIP() {
			out[i] = p.Addr().String()
		} else {
			out[i] = p.String()
		}
	}
	return out
}

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

// Part is services to destinations.
type Part struct {
	Services []Service
	Dests    Dests
}

// Line is one line of a summary: services to destinations, all decided by
// the same reasons.
type Line struct {
	Widened    bool
	Base, Head Reason
	Services   []Service
	Dests      Dests
	// Except are packets left out of Services to Dests.
	Except []Part
	// DNS says the packets are DNS queries to the qube's DNS servers:
	// the services are tcp or udp port 53, or both, and the destinations
	// some of the servers.
	DNS bool
}

// String returns "SERVICES to DESTINATIONS", where the services of DNS
// queries are "dns" (tcp and udp), "dns over udp" or "dns over tcp".
func (l *Line) String() string {
	svc := Services(l.Services)
	if l.DNS {
		switch len(l.Services) {
		case 2:
			svc = "dns"
		default:
			svc = "dns over " + protoNames[l.Services[0].Proto]
		}
	}
	out := svc + " to " + strings.Join(l.Dests.Strings(), ", ")
	for i, p := range l.Except {
		switch {
		case i == 0:
			out += ", except "
		case i == len(l.Except)-1:
			out += " and "
		default:
			out += "; "
		}
		out += Services(p.Services) + " to " + strings.Join(p.Dests.Strings(), ", ")
	}
	return out
}

// isDNS reports whether l is about DNS queries to servers alone.
func (l *Line) isDNS(servers []netip.Addr) bool {
	if len(l.Except) > 0 || l.Dests.Any || len(l.Dests.Names) > 0 || len(l.Dests.Except) > 0 || len(l.Dests.Prefixes) == 0 {
		return false
	}
	for _, s := range l.Services {
		if s.Proto != TCP && s.Proto != UDP || s.Headers != AnyHeaders || len(s.Ranges) != 1 || s.Ranges[0] != (ir.PortRange{First: 53, Last: 53}) {
			return false
		}
	}
	for _, p := range l.Dests.Prefixes {
		if !p.IsSingleIP() || !slices.Contains(servers, p.Addr()) {
			return false
		}
	}
	return true
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
		for _, l := range summariseGroup(u, g.changes) {
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

func summariseGroup(u *Universe, cs []Change) []Line {
	items := map[atom][]item{}
	for _, c := range cs {
		w := u.Where(c.Box.Space)
		a := atom{w.Family, w.Name}
		items[a] = append(items[a], item{c.Box.Lo, c.Box.Hi, svcPart{c.Box.Proto, w.Ext, c.Box.PLo, c.Box.PHi}})
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
		segs = append(segs, segments(a, items[a])...)
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
		if rs := merge(all[p]); len(rs) > 0 {
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
func segments(a atom, items []item) []segment {
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
	slices.SortFunc(cuts, cmpU)
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
		services := normalise(parts, a.family == 6)
		key := serviceKey(services)
		if n := len(out); n > 0 && out[n-1].key == key && out[n-1].hi.Inc() == lo {
			out[n-1].hi = hi
			continue
		}
		out = append(out, segment{at: a, lo: lo, hi: hi, services: services, key: key})
	}
	return out
}

func cmpU(a, b space.U128) int {
	switch {
	case a.Less(b):
		return -1
	case b.Less(a):
		return 1
	}
	return 0
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
		pl := merge(plain[p])
		if !ipv6 {
			add(p, AnyHeaders, pl)
			continue
		}
		ex := merge(ext[p])
		add(p, AnyHeaders, intersectRanges(pl, ex))
		add(p, NoExtHeaders, subtractRanges(pl, ex))
		add(p, ExtHeaders, subtractRanges(ex, pl))
	}
	return out
}

// merge returns the union of rs as sorted ranges, neither overlapping nor
// adjacent.
func merge(rs []ir.PortRange) []ir.PortRange {
	slices.SortFunc(rs, func(a, b ir.PortRange) int { return cmp.Or(cmp.Compare(a.First, b.First), cmp.Compare(a.Last, b.Last)) })
	var out []ir.PortRange
	for _, r := range rs {
		if n := len(out); n > 0 && int(r.First) <= int(out[n-1].Last)+1 {
			out[n-1].Last = max(out[n-1].Last, r.Last)
			continue
		}
		out = append(out, r)
	}
	return out
}

// intersectRanges returns the ranges in both a and b, which are merged.
func intersectRanges(a, b []ir.PortRange) []ir.PortRange {
	var out []ir.PortRange
	for i, j := 0, 0; i < len(a) && j < len(b); {
		lo, hi := max(a[i].First, b[j].First), min(a[i].Last, b[j].Last)
		if lo <= hi {
			out = append(out, ir.PortRange{First: lo, Last: hi})
		}
		if a[i].Last < b[j].Last {
			i++
		} else {
			j++
		}
	}
	return out
}

// subtractRanges returns the ranges of a outside b, which are merged.
func subtractRanges(a, b []ir.PortRange) []ir.PortRange {
	var out []ir.PortRange
	j := 0
	for _, r := range a {
		lo := int(r.First)
		for j < len(b) && int(b[j].Last) < lo {
			j++
		}
		for k := j; k < len(b) && int(b[k].First) <= int(r.Last); k++ {
			if int(b[k].First) > lo {
				out = append(out, ir.PortRange{First: uint16(lo), Last: b[k].First - 1})
			}
			lo = int(b[k].Last) + 1
		}
		if lo <= int(r.Last) {
			out = append(out, ir.PortRange{First: uint16(lo), Last: r.Last})
		}
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

// dests returns the destinations of segs, which share services: their
// addresses as the fewest prefixes, and their names.
func dests(u *Universe, segs []segment) Dests {
	var d Dests
	// The families of each name, as a bit mask.
	bit := func(family int) int { return family/2 - 1 }
	names := map[string]int{}
	var spans [2][]span
	for _, s := range segs {
		if s.at.name != "" {
			names[s.at.name] |= bit(s.at.family)
			continue
		}
		spans[s.at.family/6] = append(spans[s.at.family/6], span{s.lo, s.hi})
	}
	const both = 1 | 1<<1
	all := true
	for i, ss := range spans {
		family := 4 + 2*i
		slices.SortFunc(ss, func(a, b span) int { return cmpU(a.lo, b.lo) })
		ss = joinSpans(ss)
		var in, out []netip.Prefix
		for _, s := range ss {
			in = append(in, prefixes(s.lo, s.hi, family)...)
		}
		for _, s := range complement(ss, family) {
			out = append(out, prefixes(s.lo, s.hi, family)...)
		}
		switch {
		case len(ss) == 0:
			all = false
		case len(out)+1 < len(in) || len(out) == 0:
			// All the family's addresses but a few.
			d.Prefixes = append(d.Prefixes, netip.PrefixFrom(space.U128{}.Addr(family == 4), 0))
			d.Except = append(d.Except, out...)
		default:
			all = false
			d.Prefixes = append(d.Prefixes, in...)
		}
	}
	for _, n := range u.Names() {
		all = all && names[n] == both
	}
	if all {
		return Dests{Any: true, Except: d.Except}
	}
	for n, fams := range names {
		f := 4
		switch fams {
		case both:
			f = 0
		case bit(6):
			f = 6
		}
		d.Names = append(d.Names, Name{Name: n, Family: f})
	}
	slices.SortFunc(d.Names, func(a, b Name) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Family, b.Family)) })
	return d
}

// joinSpans joins the sorted, disjoint spans ss where they are adjacent.
func joinSpans(ss []span) []span {
	var out []span
	for _, s := range ss {
		if n := len(out); n > 0 && out[n-1].hi.Inc() == s.lo {
			out[n-1].hi = s.hi
			continue
		}
		out = append(out, s)
	}
	return out
}

// complement returns the addresses of family outside the sorted, disjoint
// spans ss.
func complement(ss []span, family int) []span {
	end := space.Max32
	if family == 6 {
		end = space.Max128
	}
	var out []span
	next, done := space.U128{}, false
	for _, s := range ss {
		if next.Less(s.lo) {
			out = append(out, span{next, s.lo.Dec()})
		}
		if s.hi == end {
			done = true
			break
		}
		next = s.hi.Inc()
	}
	if !done {
		out = append(out, span{next, end})
	}
	return out
}

// prefixes returns the fewest prefixes that hold exactly the addresses lo
// to hi of family.
func prefixes(lo, hi space.U128, family int) []netip.Prefix {
	width := 32
	if family == 6 {
		width = 128
	}
	var out []netip.Prefix
	for {
		// The largest block that starts at lo and ends by hi.
		k := min(trailingZeros(lo), width)
		for k > 0 && hi.Less(or(lo, ones(k))) {
			k--
		}
		out = append(out, netip.PrefixFrom(lo.Addr(family == 4), width-k))
		end := or(lo, ones(k))
		if end == hi {
			return out
		}
		lo = end.Inc()
	}
}

func trailingZeros(a space.U128) int {
	if a.Lo != 0 {
		return bits.TrailingZeros64(a.Lo)
	}
	if a.Hi != 0 {
		return 64 + bits.TrailingZeros64(a.Hi)
	}
	return 128
}

// ones returns 2^k - 1.
func ones(k int) space.U128 {
	switch {
	case k >= 128:
		return space.Max128
	case k >= 64:
		return space.U128{Hi: 1<<(k-64) - 1, Lo: ^uint64(0)}
	}
	return space.U128{Lo: 1<<k - 1}
}

func or(a, b space.U128) space.U128 { return space.U128{Hi: a.Hi | b.Hi, Lo: a.Lo | b.Lo} }

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
