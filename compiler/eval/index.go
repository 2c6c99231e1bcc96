package eval

import (
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/space"
)

// The index: one family's list compiled, for the packets of one protocol,
// into a partition of (destination address × port or ICMP type) whose
// every cell holds the Result fields that the walk over the list gives
// each packet in it. A lookup is a binary search over address intervals,
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
// New indexes it: fewer are faster to walk than to search.
const indexFrom = 12

// Budgets: an index whose partition would take more steps to build or
// more cells to hold than these, which rules that cross in both
// dimensions can make quadratic in their number, is not built, and its
// packets are walked.
func stepBudget(rules int) int { return 1<<20 + 1024*rules }
func cellBudget(rules int) int { return 1<<16 + 64*rules }

// index is the partition for one family and protocol slot.
type index struct {
	key keyDim
	// addrs holds the first address of each address interval, sorted;
	// addrs[0] is 0. rows holds each interval's row.
	addrs []space.U128
	rows  []rowRef
	// keys and cells hold the rows one after the other: keys the first
	// port (or type) of each cell, sorted within a row, and cells what
	// decides the packets in it.
	keys  []uint16
	cells []cell
}

// rowRef is a row of keys and cells: n of them from off.
type rowRef struct{ off, n int32 }

// cell is what the walk over the list gives every packet of a cell: the
// deciding rule (-1 for the final drop), its action, and the first rule
// before it that may match with the other action (-1 if none).
type cell struct {
	rule, possible int32
	action         ir.Action
}

// lookup returns the cell of the packets to a with key k.
func (x *index) lookup(a space.U128, k uint16) *cell {
	// The last address interval that starts at or before a: addrs[0]
	// is 0, so there is one. The loop halves the candidates without
	// branching on the comparison.
	addrs := x.addrs
	base, n := 0, len(addrs)
	for n > 1 {
		half := n >> 1
		if s := addrs[base+half]; s.Hi < a.Hi || s.Hi == a.Hi && s.Lo <= a.Lo {
			base += half
		}
		n -= half
	}
	r := x.rows[base]
	keys := x.keys[r.off : r.off+r.n]
	base, n = 0, len(keys)
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
	if p.Host != "" || !p.Dst.IsValid() || p.Dst.Zone() != "" {
		return Result{}, false
	}
	s := slotOf(p.Proto)
	if p.ExtHeaders && f.extDiffers {
		s += numSlots
	}
	x := f.index[s]
	if x == nil || f.dnsUnknown && rewritesDNS(p) {
		return Result{}, false
	}
	var k uint16
	switch x.key {
	case keyPort:
		k = p.Port
	case keyType:
		k = uint16(p.ICMPType)
	}
	c := x.lookup(space.FromAddr(p.Dst), k)
	res := Result{Action: c.action, Rule: int(c.rule), Blocked: -1, Possible: int(c.possible), MayBlock: -1}
	if c.action == ir.Accept {
		res.MayBlock = f.mayBlock
	}
	return res, true
}

// buildIndexes indexes every protocol slot of f that has at least from
// rules that may match it.
func (f *familyRules) buildIndexes(family, from int) {
	for _, r := range f.rules {
		f.extDiffers = f.extDiffers || r.firstHeader
	}
	for s := range numSlots {
		if len(f.byClass[class(slotProto[s])]) < from {
			continue
		}
		f.index[s] = f.buildIndex(family, s, false)
		if f.extDiffers {
			f.index[numSlots+s] = f.buildIndex(family, s, true)
		}
	}
}

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
// extension headers if ext, in family; ok is false if r constrains a field
// that the slot's index does not key on. It follows match, for a packet
// to a known address without a host name.
func (r *rule) region(f *familyRules, family, s int, ext bool) (reg region, ok bool) {
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
	addrs := []span{{hi: lastAddr(family)}}
	if r.dns {
		if f.dnsUnknown {
			reg.maybe = true
		} else {
			addrs = points(f.dns, family)
		}
	}
	switch {
	case r.host != "":
		if r.hostKnown {
			addrs = intersect(addrs, points(r.hostAddrs, family))
		} else {
			reg.maybe = true
		}
	case r.prefix.IsValid() && r.prefix.Bits() != 0:
		// A prefix of the other family matches no address of this one;
		// one of length 0 matches them all.
		if r.prefix.Addr().Is4() != (family == 4) {
			return reg, true
		}
		lo, hi := space.PrefixRange(r.prefix)
		addrs = intersect(addrs, []span{{lo, hi}})
	}
	reg.addrs = addrs
	return reg, true
}

func lastAddr(family int) space.U128 {
	if family == 4 {
		return space.Max32
	}
	return space.Max128
}

// points returns the addresses of family among addrs as sorted spans,
// adjacent ones merged. A zoned address is left out: it equals no packet's
// address that the index decides.
func points(addrs []netip.Addr, family int) []span {
	var out []span
	for _, a := range addrs {
		if a.Is4() == (family == 4) && a.Zone() == "" {
			u := space.FromAddr(a)
			out = append(out, span{u, u})
		}
	}
	slices.SortFunc(out, func(a, b span) int { return cmpU(a.lo, b.lo) })
	k := 0
	for _, sp := range out {
		if k > 0 && !out[k-1].hi.Less(sp.lo.Dec()) {
			out[k-1].hi = maxU(out[k-1].hi, sp.hi)
			continue
		}
		out[k] = sp
		k++
	}
	return out[:k]
}

// intersect returns the addresses in both a and b, sorted disjoint spans.
func intersect(a, b []span) []span {
	var out []span
	for i, j := 0, 0; i < len(a) && j < len(b); {
		lo, hi := maxU(a[i].lo, b[j].lo), minU(a[i].hi, b[j].hi)
		if !hi.Less(lo) {
			out = append(out, span{lo, hi})
		}
		if a[i].hi.Less(b[j].hi) {
			i++
		} else {
			j++
		}
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

func minU(a, b space.U128) space.U128 {
	if a.Less(b) {
		return a
	}
	return b
}

func maxU(a, b space.U128) space.U128 {
	if a.Less(b) {
		return b
	}
	return a
}

// buildIndex returns the index of f for slot s, with extension headers if
// ext, or nil if a rule keeps it from being exact or it is over budget.
//
// It sweeps the address intervals that the rules' boundaries make, in
// order, keeping the rules that cover the current one (the active rules,
// in list order). An interval's row is painted by its active rules in
// order, as the walk would meet them: a rule that surely matches decides
// the cells that no earlier rule decided, and one that may match marks
// the undecided ones it covers, if no earlier rule of its action did.
// Painting stops at the first rule that covers every port, or when every
// cell is decided. Adjacent intervals with the same row are merged, and
// equal rows stored once.
func (f *familyRules) buildIndex(family, s int, ext bool) *index {
	key := slotKey[s]
	var regs []region
	for _, i := range f.byClass[class(slotProto[s])] {
		reg, ok := f.rules[i].region(f, family, s, ext)
		if !ok {
			return nil
		}
		if len(reg.addrs) > 0 {
			reg.rule = i
			regs = append(regs, reg)
		}
	}
	steps, cells := stepBudget(len(f.rules)), cellBudget(len(f.rules))
	last := lastAddr(family)

	// The address intervals, by their first addresses.
	starts := []space.U128{{}}
	for _, reg := range regs {
		for _, sp := range reg.addrs {
			starts = append(starts, sp.lo)
			if sp.hi != last {
				starts = append(starts, sp.hi.Inc())
			}
		}
	}
	slices.SortFunc(starts, cmpU)
	starts = slices.Compact(starts)
	// Where each rule enters and leaves the active set, by interval.
	type event struct {
		at  int32
		reg int32
		add bool
	}
	var events []event
	at := func(a space.U128) int32 {
		i, _ := slices.BinarySearchFunc(starts, a, cmpU)
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

	x := &index{key: key}
	var (
		active []int32
		p      painter
		row    []byte // the current row, encoded, to compare and share
		prev   []byte // the row before
		shared = map[string]rowRef{}
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
		steps -= len(active)
		p.paint(f, regs, active, keyMax[key])
		steps -= p.steps
		if steps < 0 {
			return nil
		}
		row = p.encode(row[:0])
		if len(x.rows) > 0 && string(row) == string(prev) {
			continue
		}
		ref, ok := shared[string(row)]
		if !ok {
			ref = rowRef{int32(len(x.keys)), int32(len(p.keys))}
			x.keys = append(x.keys, p.keys...)
			x.cells = append(x.cells, p.cells...)
			if cells -= len(p.cells); cells < 0 {
				return nil
			}
			shared[string(row)] = ref
		}
		x.addrs = append(x.addrs, starts[j])
		x.rows = append(x.rows, ref)
		prev = append(prev[:0], row...)
	}
	x.addrs = slices.Clip(x.addrs)
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
	// open, noA and noD skip, union-find style, the intervals that are
	// decided, or decided or marked by a possible accept (or drop).
	open, noA, noD []int32
	keys           []uint16
	cells          []cell
	steps          int
}

// paint computes the row of an address interval whose active rules are
// active (indices into regs, in order), over keys 0 to kmax.
func (p *painter) paint(f *familyRules, regs []region, active []int32, kmax uint16) {
	p.steps = 0
	// Nothing after a rule that surely matches every key counts.
	for t, k := range active {
		if r := &regs[k]; !r.maybe && r.klo == 0 && r.khi == kmax {
			active = active[:t+1]
			break
		}
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
	p.dec, p.mayA, p.mayD = fill(p.dec, n, -1), fill(p.mayA, n, -1), fill(p.mayD, n, -1)
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
				p.dec[e] = r.rule
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
		c := cell{rule: p.dec[e], possible: p.mayA[e], action: ir.Drop}
		if c.rule >= 0 {
			c.action = f.rules[c.rule].action
			c.possible = int32(other(c.action, int(p.mayA[e]), int(p.mayD[e])))
		}
		if len(p.cells) > 0 && p.cells[len(p.cells)-1] == c {
			continue
		}
		p.keys = append(p.keys, p.bounds[e])
		p.cells = append(p.cells, c)
	}
}

// encode appends the row to b, to compare it with others.
func (p *painter) encode(b []byte) []byte {
	for i, c := range p.cells {
		b = binary.LittleEndian.AppendUint16(b, p.keys[i])
		b = binary.LittleEndian.AppendUint32(b, uint32(c.rule))
		b = binary.LittleEndian.AppendUint32(b, uint32(c.possible))
		b = append(b, byte(c.action))
	}
	return b
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
