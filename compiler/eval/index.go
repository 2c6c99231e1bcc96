package eval

import (
	"encoding/binary"
	"math"
	"net/netip"
	"slices"

	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/space"
)

// The index: one family's list compiled, for the packets of one protocol,
// into partitions of destination address × port (or ICMP type), one for
// each group of its rules (see slotIndex). A cell holds
// the first rule of its group that matches the packets in it, and the
// first that may match them with each action; the first of the groups'
// is the walk's. A lookup is a binary search over address intervals,
// which leads to a row, and one over the row's port (or type) intervals.
//
// Where an answer depends on more than the protocol, the address and the
// port or type, the index has no say and Eval walks the list (see
// indexed): a packet to an unknown address or to a host name (rules to the
// name match it whatever its address), one to a zoned address, a DNS query
// that reaches the rules with an unknown upstream address, and a protocol
// whose rules constrain a field that its index does not key on (a port on
// ICMP, say, which qfw never writes). What a rule to a name of unknown
// addresses or a DNS rule with unknown servers may match is kept in the
// cells as it is in the walk: as the first rule of each action that may
// match before the one that does.

// Protocol slots: a packet's protocol number, as rules tell them apart.
// Every number but those of ICMP, TCP, UDP and ICMPv6 is matched only by
// rules without a protocol, so they share one slot.
const (
	slotOther = iota
	slotICMP
	slotTCP
	slotUDP
	slotICMPv6
	numSlots
)

// slotProto is a protocol number of each slot; that of slotOther stands
// for all others.
var slotProto = [numSlots]uint8{0, ProtoICMP, ProtoTCP, ProtoUDP, ProtoICMPv6}

func slotOf(proto uint8) int {
	switch proto {
	case ProtoICMP:
		return slotICMP
	case ProtoTCP:
		return slotTCP
	case ProtoUDP:
		return slotUDP
	case ProtoICMPv6:
		return slotICMPv6
	}
	return slotOther
}

// keyDim is the packet field that an index's rows are over, besides the
// address.
type keyDim uint8

const (
	keyNone keyDim = iota
	keyPort
	keyType
)

var slotKey = [numSlots]keyDim{keyNone, keyType, keyPort, keyPort, keyType}

// keyMax is the last value of each key.
var keyMax = [...]uint16{keyNone: 0, keyPort: 0xffff, keyType: 0xff}

// indexFrom is the number of rules that may match a protocol from which
// New indexes it. Walking about ten rules takes as long as a search, and
// costs nothing to build.
const indexFrom = 12

// Budgets: an index whose partition would take more steps to build or
// more cells to hold than these, for a list of n rules, is not built, and
// its packets are walked. Rules that cross in both dimensions (ports to
// many addresses each, interleaved with rules to those addresses) make
// the partition quadratic in their number; the budgets keep the work and
// memory of an index near-linear in the list's length.
func stepBudget(n int) int { return 4096 + 32*n }
func cellBudget(n int) int { return 1024 + 8*n }

// none is the rule index of no rule in a cell: above every other, so
// that the first of several is their minimum.
const none = math.MaxInt32

// slotIndex is the index of one family and protocol slot: the rules are
// split into up to three groups, each with its own partition, so that
// rules to every address (ports or types alone) and rules to every port
// (addresses alone), the common shapes, do not multiply each other's
// intervals: the first rule that matches is the first of each group's.
// The rules to every port and the others (addresses and ports) share one
// partition when it stays small, which saves a search.
type slotIndex struct {
	parts []index
}

// index is the partition of one group of rules.
type index struct {
	// addrs4 (in IPv4) or addrs6 hold the first address of each address
	// interval, sorted; the first is 0. rows holds each interval's row.
	addrs4 []uint32
	addrs6 []space.U128
	rows   []rowRef
	// keys and cells hold the rows one after the other: keys the first
	// port (or type) of each cell, sorted within a row, and cells what
	// decides the packets in it.
	keys  []uint16
	cells []cell
}

// rowRef is a row of keys and cells: n of them from off.
type rowRef struct{ off, n int32 }

// cell is what the walk over a group's rules gives every packet of a
// cell: the first rule that matches it (none for no rule), its action,
// and the first rules before it that may match it with each action (none
// if there is none).
type cell struct {
	rule, mayAccept, mayDrop int32
	action                   ir.Action
}

// lookup4 returns the cell of the packets to IPv4 address a with key k.
func (x *index) lookup4(a uint32, k uint16) *cell {
	// The last address interval that starts at or before a: the first
	// starts at 0, so there is one. (Replacing the branches of these
	// searches with masks measured no faster on random packets, and
	// slower on one.)
	addrs := x.addrs4
	base, n := 0, len(addrs)
	for n > 1 {
		half := n >> 1
		if addrs[base+half] <= a {
			base += half
		}
		n -= half
	}
	return x.lookupRow(base, k)
}

// lookup6 returns the cell of the packets to IPv6 address a with key k.
func (x *index) lookup6(a space.U128, k uint16) *cell {
	addrs := x.addrs6
	base, n := 0, len(addrs)
	for n > 1 {
		half := n >> 1
		if s := addrs[base+half]; s.Hi < a.Hi || s.Hi == a.Hi && s.Lo <= a.Lo {
			base += half
		}
		n -= half
	}
	return x.lookupRow(base, k)
}

// lookupRow returns the cell of key k in the row of address interval i.
func (x *index) lookupRow(i int, k uint16) *cell {
	r := x.rows[i]
	keys := x.keys[r.off : r.off+r.n]
	base, n := 0, len(keys)
	for n > 1 {
		half := n >> 1
		if keys[base+half] <= k {
			base += half
		}
		n -= half
	}
	return &x.cells[int(r.off)+base]
}

// indexed decides p with f's index, if f has one for p and it is exact for
// p.
func (f *familyRules) indexed(p *Packet) (Result, bool) {
	s := slotOf(p.Proto)
	if p.ExtHeaders && f.extDiffers {
		s += numSlots
	}
	x := f.index[s]
	if x == nil || p.Host != "" || !p.Dst.IsValid() || p.Dst.Is6() && p.Dst.Zone() != "" || f.dnsUnknown && rewritesDNS(p) {
		return Result{}, false
	}
	var k uint16
	switch slotKey[s%numSlots] {
	case keyPort:
		k = p.Port
	case keyType:
		k = uint16(p.ICMPType)
	}
	var a4 uint32
	var a6 space.U128
	is4 := p.Dst.Is4()
	if is4 {
		b := p.Dst.As4()
		a4 = binary.BigEndian.Uint32(b[:])
	} else {
		a6 = space.FromAddr(p.Dst)
	}
	first := cell{rule: none, mayAccept: none, mayDrop: none, action: ir.Drop}
	for i := range x.parts {
		var c *cell
		if is4 {
			c = x.parts[i].lookup4(a4, k)
		} else {
			c = x.parts[i].lookup6(a6, k)
		}
		if c.rule < first.rule {
			first.rule, first.action = c.rule, c.action
		}
		first.mayAccept = min(first.mayAccept, c.mayAccept)
		first.mayDrop = min(first.mayDrop, c.mayDrop)
	}
	// A group's possible matches come before its first match, but maybe
	// not before the first match of all groups.
	res := Result{Action: first.action, Rule: -1, Blocked: -1, Possible: -1, MayBlock: -1}
	if first.rule != none {
		res.Rule = int(first.rule)
	}
	if first.action == ir.Accept {
		res.MayBlock = f.mayBlock
		if first.mayDrop < first.rule {
			res.Possible = int(first.mayDrop)
		}
	} else if first.mayAccept < first.rule {
		res.Possible = int(first.mayAccept)
	}
	return res, true
}

// buildIndexes indexes every protocol slot of f that has at least from
// rules that may match it.
func (f *familyRules) buildIndexes(family, from int) {
	for _, r := range f.rules {
		f.extDiffers = f.extDiffers || r.firstHeader
	}
	var b *builder
	for s := range numSlots {
		if len(f.byClass[class(slotProto[s])]) < from {
			continue
		}
		if b == nil {
			b = &builder{f: f, family: family, dsts: f.destinations(family)}
		}
		f.index[s] = b.slot(s, false)
		if f.extDiffers {
			f.index[numSlots+s] = b.slot(s, true)
		}
	}
	for _, x := range f.index {
		f.indexedAny = f.indexedAny || x != nil
	}
}

// builder builds the indexes of one family.
type builder struct {
	f      *familyRules
	family int
	dsts   []dst // of each rule
	p      painter
	groups [3][]region // a slot's, reused
	merged []region
	// shared holds the indexes of the rules to every port (or type) built
	// so far, and their rules: most protocols have the same, the rules
	// without a protocol.
	shared []sharedIndex
}

type sharedIndex struct {
	rules []int32
	x     *index
}

// slot returns the index for slot s, with extension headers if ext, or
// nil if a rule keeps it from being exact or it is over budget.
func (b *builder) slot(s int, ext bool) *slotIndex {
	f := b.f
	key := slotKey[s]
	last := lastAddr(b.family)
	// The groups: rules to every port (or type), rules to every address,
	// and the others.
	groups := &b.groups
	for g := range groups {
		groups[g] = groups[g][:0]
	}
	for _, i := range f.byClass[class(slotProto[s])] {
		reg, ok := f.rules[i].region(s, ext, b.dsts[i])
		if !ok {
			return nil
		}
		if len(reg.addrs) == 0 {
			continue
		}
		reg.rule = i
		g := 2
		switch {
		case reg.klo == 0 && reg.khi == keyMax[key]:
			g = 0
		case len(reg.addrs) == 1 && reg.addrs[0] == span{hi: last}:
			g = 1
		}
		groups[g] = append(groups[g], reg)
	}
	left := budget{steps: stepBudget(len(f.rules)), cells: cellBudget(len(f.rules))}
	x := &slotIndex{}
	merged := false
	if len(groups[0]) > 0 && len(groups[2]) > 0 {
		// The rules to every port and the others in one partition save
		// a search, if their rows stay short: in a row, a rule to every
		// port ends what comes after it, but the others' ports repeat
		// in every row of a rule to every port that they cover. Tried
		// with half the steps, and cells of a few per rule.
		b.merged = mergeRegions(b.merged[:0], groups[0], groups[2])
		try := budget{steps: left.steps / 2, cells: min(left.cells, 4*len(b.merged)+64)}
		part := buildIndex(b.merged, key, b.family, &b.p, &try)
		left.steps -= left.steps/2 - try.steps
		if part != nil {
			left.cells -= min(left.cells, 4*len(b.merged)+64) - try.cells
			x.parts = append(x.parts, *part)
			merged = true
		}
	}
	for g, regs := range groups {
		if len(regs) == 0 || merged && g != 1 {
			continue
		}
		var part *index
		if g == 0 {
			// A rule's region in this group is its addresses, the same
			// in every slot: the same rules make the same index.
			part = b.sharedIndex(regs)
		}
		if part == nil {
			if part = buildIndex(regs, key, b.family, &b.p, &left); part == nil {
				return nil
			}
			if g == 0 {
				rules := make([]int32, len(regs))
				for k, r := range regs {
					rules[k] = r.rule
				}
				b.shared = append(b.shared, sharedIndex{rules, part})
			}
		}
		x.parts = append(x.parts, *part)
	}
	return x
}

// mergeRegions appends the regions of a and b, each in list order, to
// out in list order.
func mergeRegions(out, a, b []region) []region {
	for len(a) > 0 && len(b) > 0 {
		if a[0].rule < b[0].rule {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// sharedIndex returns the index built before for the rules of regs, if
// any.
func (b *builder) sharedIndex(regs []region) *index {
	for _, sh := range b.shared {
		if slices.EqualFunc(sh.rules, regs, func(i int32, r region) bool { return i == r.rule }) {
			return sh.x
		}
	}
	return nil
}

// budget is what is left of the budgets for a slot.
type budget struct{ steps, cells int }

// span is an inclusive interval of addresses.
type span struct{ lo, hi space.U128 }

// region is what one rule matches among the packets of a slot: those to
// addrs with a key from klo to khi, surely, or, if maybe, depending on an
// address that is not known.
type region struct {
	rule     int32
	action   ir.Action
	maybe    bool
	addrs    []span
	klo, khi uint16
}

// region returns what r matches among the packets of slot s, with
// extension headers if ext, given the addresses it matches (see
// destinations); ok is false if r constrains a field that the slot's index
// does not key on. It follows match, for a packet to a known address
// without a host name.
func (r *rule) region(s int, ext bool, d dst) (reg region, ok bool) {
	key := slotKey[s]
	reg.action, reg.klo, reg.khi = r.action, 0, keyMax[key]
	if r.skip {
		return reg, true
	}
	switch proto := slotProto[s]; {
	case r.proto != 0:
		if proto != r.proto || r.firstHeader && ext {
			return reg, true
		}
	case r.dns:
		if proto != ProtoTCP && proto != ProtoUDP {
			return reg, true
		}
	}
	if r.hasPorts {
		if key != keyPort {
			return reg, false
		}
		if r.ports.First > r.ports.Last {
			return reg, true
		}
		reg.klo, reg.khi = r.ports.First, r.ports.Last
	}
	if r.hasType {
		if key != keyType {
			return reg, false
		}
		reg.klo, reg.khi = uint16(r.icmpType), uint16(r.icmpType)
	}
	reg.addrs, reg.maybe = d.addrs, d.maybe
	return reg, true
}

// dst is the addresses a rule matches, surely or, if maybe, depending on
// an address that is not known.
type dst struct {
	addrs []span
	maybe bool
}

// destinations returns the addresses that each rule of f matches in
// family, as match decides for a packet to a known address without a host
// name: the DNS servers and the rule's prefix or host name's addresses,
// both; what is not known, a maybe.
func (f *familyRules) destinations(family int) []dst {
	all := []span{{hi: lastAddr(family)}}
	// The rules' spans share one buffer: a rule's are a slice of it that
	// later appends do not touch.
	var buf []span
	dns, dnsMaybe := all, f.dnsUnknown
	if !dnsMaybe {
		buf = points(buf, f.dns, family)
		dns = buf[0:len(buf):len(buf)]
	}
	out := make([]dst, len(f.rules))
	for i := range f.rules {
		r := &f.rules[i]
		d := dst{addrs: all}
		if r.dns {
			d = dst{dns, dnsMaybe}
		}
		from := len(buf)
		switch {
		case r.host != "":
			if r.hostKnown {
				buf = points(buf, r.hostAddrs, family)
				hosts := buf[from:]
				buf = intersect(buf, d.addrs, hosts)
				// The host's points are replaced by the intersection.
				n := copy(buf[from:], buf[from+len(hosts):])
				buf = buf[:from+n]
				d.addrs = buf[from:len(buf):len(buf)]
			} else {
				d.maybe = true
			}
		case r.prefix.IsValid() && r.prefix.Bits() != 0:
			// A prefix of the other family matches no address of this
			// one; one of length 0 matches them all.
			if r.prefix.Addr().Is4() != (family == 4) {
				d.addrs = nil
				break
			}
			lo, hi := space.PrefixRange(r.prefix)
			buf = intersect(buf, d.addrs, []span{{lo, hi}})
			d.addrs = buf[from:len(buf):len(buf)]
		}
		out[i] = d
	}
	return out
}

func lastAddr(family int) space.U128 {
	if family == 4 {
		return space.Max32
	}
	return space.Max128
}

// points appends the addresses of family among addrs to buf as sorted
// spans, adjacent ones merged. A zoned address is left out: it equals no
// packet's address that the index decides.
func points(buf []span, addrs []netip.Addr, family int) []span {
	from := len(buf)
	for _, a := range addrs {
		if a.Is4() == (family == 4) && a.Zone() == "" {
			u := space.FromAddr(a)
			buf = append(buf, span{u, u})
		}
	}
	out := buf[from:]
	slices.SortFunc(out, func(a, b span) int { return a.lo.Compare(b.lo) })
	k := 0
	for _, sp := range out {
		if k > 0 && (!out[k-1].hi.Less(sp.lo) || out[k-1].hi.Inc() == sp.lo) {
			out[k-1].hi = space.MaxU(out[k-1].hi, sp.hi)
			continue
		}
		out[k] = sp
		k++
	}
	return buf[:from+k]
}

// intersect appends the addresses in both a and b to buf, as sorted
// disjoint spans.
func intersect(buf, a, b []span) []span {
	for i, j := 0, 0; i < len(a) && j < len(b); {
		lo, hi := space.MaxU(a[i].lo, b[j].lo), space.MinU(a[i].hi, b[j].hi)
		if !hi.Less(lo) {
			buf = append(buf, span{lo, hi})
		}
		if a[i].hi.Less(b[j].hi) {
			i++
		} else {
			j++
		}
	}
	return buf
}

// buildIndex returns the partition for regs, in list order, over
// addresses of family and key, or nil if it is over budget.
//
// It sweeps the address intervals that the rules' boundaries make, in
// order, keeping the rules that cover the current one (the active rules,
// in list order). An interval's row is painted by its active rules in
// order, as the walk would meet them: a rule that surely matches decides
// the cells that no earlier rule decided, and one that may match marks
// the undecided ones it covers, if no earlier rule of its action did.
// Painting stops at the first rule that covers every key, or when every
// cell is decided. Adjacent intervals with the same row are merged.
func buildIndex(regs []region, key keyDim, family int, p *painter, b *budget) *index {
	last := lastAddr(family)
	// The address intervals, by their first addresses.
	n := 0
	for _, reg := range regs {
		n += len(reg.addrs)
	}
	starts := make([]space.U128, 1, 1+2*n)
	for _, reg := range regs {
		for _, sp := range reg.addrs {
			starts = append(starts, sp.lo)
			if sp.hi != last {
				starts = append(starts, sp.hi.Inc())
			}
		}
	}
	slices.SortFunc(starts, space.U128.Compare)
	starts = slices.Compact(starts)
	// Where each rule enters and leaves the active set, by interval.
	type event struct {
		at  int32
		reg int32
		add bool
	}
	events := make([]event, 0, 2*n)
	at := func(a space.U128) int32 {
		i, _ := slices.BinarySearchFunc(starts, a, space.U128.Compare)
		return int32(i)
	}
	for k, reg := range regs {
		for _, sp := range reg.addrs {
			events = append(events, event{at(sp.lo), int32(k), true})
			if sp.hi != last {
				events = append(events, event{at(sp.hi.Inc()), int32(k), false})
			}
		}
	}
	// Leaving before entering at the same interval: a rule's spans may
	// touch.
	slices.SortFunc(events, func(a, b event) int {
		if a.at != b.at {
			return int(a.at - b.at)
		}
		if a.add != b.add {
			if a.add {
				return 1
			}
			return -1
		}
		return int(a.reg - b.reg)
	})

	x := &index{rows: make([]rowRef, 0, len(starts)), keys: make([]uint16, 0, len(starts)), cells: make([]cell, 0, len(starts))}
	if family == 4 {
		x.addrs4 = make([]uint32, 0, len(starts))
	} else {
		x.addrs6 = make([]space.U128, 0, len(starts))
	}
	var (
		active []int32
		prev   rowRef
	)
	for j, ev := 0, 0; j < len(starts); j++ {
		for ; ev < len(events) && int(events[ev].at) == j; ev++ {
			e := events[ev]
			i, found := slices.BinarySearch(active, e.reg)
			switch {
			case e.add && !found:
				active = slices.Insert(active, i, e.reg)
			case !e.add && found:
				active = slices.Delete(active, i, i+1)
			}
		}
		p.paint(regs, active, keyMax[key])
		if b.steps -= p.steps; b.steps < 0 {
			return nil
		}
		if len(x.rows) > 0 && slices.Equal(p.keys, x.keys[prev.off:]) && slices.Equal(p.cells, x.cells[prev.off:]) {
			continue
		}
		if b.cells -= len(p.cells); b.cells < 0 {
			return nil
		}
		prev = rowRef{int32(len(x.keys)), int32(len(p.keys))}
		x.keys = append(x.keys, p.keys...)
		x.cells = append(x.cells, p.cells...)
		if family == 4 {
			x.addrs4 = append(x.addrs4, uint32(starts[j].Lo))
		} else {
			x.addrs6 = append(x.addrs6, starts[j])
		}
		x.rows = append(x.rows, prev)
	}
	x.addrs4 = slices.Clip(x.addrs4)
	x.addrs6 = slices.Clip(x.addrs6)
	x.rows = slices.Clip(x.rows)
	x.keys = slices.Clip(x.keys)
	x.cells = slices.Clip(x.cells)
	return x
}

// painter computes rows, reusing its buffers from one to the next.
type painter struct {
	bounds []uint16 // the first key of each elementary interval
	// dec, mayA and mayD hold, for each elementary interval, the rule
	// that decides it and the first rules that may match it with each
	// action, or -1.
	dec, mayA, mayD []int32
	act             []ir.Action // the action of dec
	// open, noA and noD skip, union-find style, the intervals that are
	// decided, or decided or marked by a possible accept (or drop).
	open, noA, noD []int32
	keys           []uint16
	cells          []cell
	steps          int
}

// paint computes the row of an address interval whose active rules are
// active (indices into regs, in order), over keys 0 to kmax.
func (p *painter) paint(regs []region, active []int32, kmax uint16) {
	p.steps = 0
	// Nothing after a rule that surely matches every key counts.
	for t, k := range active {
		if r := &regs[k]; !r.maybe && r.klo == 0 && r.khi == kmax {
			active = active[:t+1]
			break
		}
	}
	if len(active) == 0 || len(active) == 1 && !regs[active[0]].maybe && regs[active[0]].klo == 0 && regs[active[0]].khi == kmax {
		// One cell: no rule, or one that matches every key.
		c := cell{rule: none, mayAccept: none, mayDrop: none, action: ir.Drop}
		if len(active) == 1 {
			c.rule, c.action = regs[active[0]].rule, regs[active[0]].action
		}
		p.keys, p.cells = append(p.keys[:0], 0), append(p.cells[:0], c)
		p.steps = 1
		return
	}
	p.bounds = append(p.bounds[:0], 0)
	for _, k := range active {
		r := &regs[k]
		p.bounds = append(p.bounds, r.klo)
		if r.khi != kmax {
			p.bounds = append(p.bounds, r.khi+1)
		}
	}
	slices.Sort(p.bounds)
	p.bounds = slices.Compact(p.bounds)
	n := len(p.bounds)
	p.steps += len(active) + n
	p.dec, p.mayA, p.mayD = fill(p.dec, n, none), fill(p.mayA, n, none), fill(p.mayD, n, none)
	p.act = slices.Grow(p.act[:0], n)[:n]
	p.open, p.noA, p.noD = iota32(p.open, n+1), iota32(p.noA, n+1), iota32(p.noD, n+1)
	undecided := n
	for _, k := range active {
		r := &regs[k]
		a, _ := slices.BinarySearch(p.bounds, r.klo)
		b := n
		if r.khi != kmax {
			b, _ = slices.BinarySearch(p.bounds, r.khi+1)
		}
		switch {
		case !r.maybe:
			for e := find(p.open, a); e < b; e = find(p.open, e+1) {
				p.dec[e], p.act[e] = r.rule, r.action
				p.open[e], p.noA[e], p.noD[e] = int32(e+1), int32(e+1), int32(e+1)
				undecided--
				p.steps++
			}
		case r.action == ir.Accept:
			for e := find(p.noA, a); e < b; e = find(p.noA, e+1) {
				p.mayA[e], p.noA[e] = r.rule, int32(e+1)
				p.steps++
			}
		default:
			for e := find(p.noD, a); e < b; e = find(p.noD, e+1) {
				p.mayD[e], p.noD[e] = r.rule, int32(e+1)
				p.steps++
			}
		}
		if undecided == 0 {
			break
		}
	}
	// The cells, adjacent equal ones merged.
	p.keys, p.cells = p.keys[:0], p.cells[:0]
	for e := range n {
		c := cell{rule: p.dec[e], mayAccept: p.mayA[e], mayDrop: p.mayD[e], action: ir.Drop}
		if c.rule != none {
			c.action = p.act[e]
		}
		if len(p.cells) > 0 && p.cells[len(p.cells)-1] == c {
			continue
		}
		p.keys = append(p.keys, p.bounds[e])
		p.cells = append(p.cells, c)
	}
}

// find returns the first interval from e on that next has not skipped,
// halving the paths it walks.
func find(next []int32, e int) int {
	for int(next[e]) != e {
		next[e] = next[next[e]]
		e = int(next[e])
	}
	return e
}

func fill(s []int32, n int, v int32) []int32 {
	s = slices.Grow(s[:0], n)[:n]
	for i := range s {
		s[i] = v
	}
	return s
}

func iota32(s []int32, n int) []int32 {
	s = slices.Grow(s[:0], n)[:n]
	for i := range s {
		s[i] = int32(i)
	}
	return s
}
