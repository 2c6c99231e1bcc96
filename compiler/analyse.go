package compiler

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"cuelang.org/go/cue/token"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/space"
	"github.com/qfw-dev/qfw/policy"
)

// analyse reports the rules of q that can never take effect because the
// rules before it, together, match every packet they match. A rule whose
// packets all meet earlier rules of the same verdict is redundant (a
// warning); one whose packets meet an earlier rule of the other verdict
// never does what it says (an error).
//
// Host names are opaque: a name is covered only by "any" or by the same
// name, never by prefixes, since qfw cannot know what it resolves to. The
// DNS target is what dns says: the servers' addresses on port 53 over tcp
// and udp when they are known, so that a deny of their network shadows a
// DNS allow, or else a destination as opaque as a name.
//
// A rule in shadowed, one that says shadowed: true, is known to take no
// effect: that is a warning, and it is one too if the rule does take
// effect after all.
func (c *compiler) analyse(q *ir.Qube, shadowed map[ir.Origin]bool, dns DNS) {
	boxes, coverers := ruleBoxes(q.Rules, dns)
	cv := newCoverIndex(coverers)
	defer cv.release()
	for start := 0; start < len(q.Rules); {
		end := start + 1
		for end < len(q.Rules) && q.Rules[end].Origin == q.Rules[start].Origin {
			end++
		}
		c.reportCovered(q, boxes, cv, start, end, shadowed[q.Rules[start].Origin], dns)
		start = end
	}
}

// dnsNote returns what the finding about a rule with match m adds, in
// parentheses, to say which packets the DNS target stands for when they are
// addresses the rule does not name.
func dnsNote(m ir.Match, dns DNS) string {
	if !m.DNS || len(dns.Servers) == 0 || dns.Semantics == eval.Mirage && m.Proto != ir.AnyProto {
		return ""
	}
	addrs := make([]string, len(dns.Servers))
	for i, a := range dns.Servers {
		addrs[i] = a.String()
	}
	list := addrs[0]
	if len(addrs) > 1 {
		list = strings.Join(addrs[:len(addrs)-1], ", ") + " and " + addrs[len(addrs)-1]
	}
	return " (the qube's DNS servers are " + list + ")"
}

// reportCovered reports the rules [start, end) of q, the parts of one
// policy rule, that the coverers of earlier rules cover; dns is the DNS
// target its finding names.
func (c *compiler) reportCovered(q *ir.Qube, boxes [][]space.Box, cv *coverIndex, start, end int, shadowed bool, dns DNS) {
	var parts []string
	var by []int
	conflict := false
	for i := start; i < end; i++ {
		covering, ok := cv.cover(boxes[i], i)
		if !ok {
			continue
		}
		parts = append(parts, q.Rules[i].Match.String())
		for _, j := range covering {
			if q.Rules[j].Action != q.Rules[i].Action {
				conflict = true
			}
			if !containsOrigin(q.Rules, by, q.Rules[j].Origin) {
				by = append(by, j)
			}
		}
	}
	r := q.Rules[start]
	// The path is made only for a finding: most rules have none.
	if parts == nil {
		if shadowed {
			path := policy.Path("qubes", q.Name, r.Origin.Kind.String(), r.Origin.Name)
			c.warn(policy.Warnf(policy.ShadowedTakesEffect, r.Origin.Pos, path, "the rule says shadowed: true, but it takes effect; remove shadowed"))
		}
		return
	}
	path := policy.Path("qubes", q.Name, r.Origin.Kind.String(), r.Origin.Name)
	note := dnsNote(r.Match, dns)
	subject, takes, is := "the rule", "takes", "is"
	if len(parts) < end-start {
		subject = "its part " + parts[0]
		if len(parts) > 1 {
			subject = fmt.Sprintf("its parts %s and %d more", parts[0], len(parts)-1)
			takes, is = "take", "are"
		}
	}
	names := make([]string, len(by))
	var also []token.Pos
	for k, j := range by {
		o := q.Rules[j].Origin
		names[k] = o.String()
		also = append(also, o.Pos)
	}
	// The verbs agree with one rule or several.
	s := ""
	if len(names) == 1 {
		s = "s"
	}
	if conflict && shadowed {
		c.warn(policy.WarnfAlso(policy.Shadowed, r.Origin.Pos, also, path,
			"%s never %s effect, as shadowed: true says: %s match%s all its packets first%s",
			subject, takes, strings.Join(names, ", "), strings.Replace(s, "s", "es", 1), note))
		return
	}
	if conflict {
		c.errorf(policy.ErrorfAlso(r.Origin.Pos, also, path,
			"%s never %s effect: %s match%s all its packets first%s; to make it an exception, give it a lower priority",
			subject, takes, strings.Join(names, ", "), strings.Replace(s, "s", "es", 1), note))
		return
	}
	c.warn(policy.WarnfAlso(policy.Redundant, r.Origin.Pos, also, path, "%s %s redundant: %s already %s%s all its packets%s",
		subject, is, strings.Join(names, ", "), r.Action, s, note))
}

func containsOrigin(rules []ir.Rule, idx []int, o ir.Origin) bool {
	for _, j := range idx {
		if rules[j].Origin == o {
			return true
		}
	}
	return false
}

// maxPieces bounds the work of one coverage check; past it the rule is
// taken as not covered, so the analysis can miss a finding but never make
// one up.
const maxPieces = 4096

// ruleBoxes returns the packet space of each rule, and the part of it the
// rule takes from the rules after it for good.
func ruleBoxes(rules []ir.Rule, dns DNS) (boxes, coverers [][]space.Box) {
	sp := newSpace(rules, dns)
	boxes = make([][]space.Box, len(rules))
	coverers = make([][]space.Box, len(rules))
	for i := range rules {
		var exact bool
		boxes[i], exact = sp.boxes(rules[i].Match)
		// A rule that expires covers nothing for good: once it is gone,
		// the rules after it take its packets. Nor does one whose packets
		// the boxes only hold.
		if exact && rules[i].Expire == 0 {
			coverers[i] = boxes[i]
		}
	}
	return boxes, coverers
}

// coverIndex holds the boxes that the rules of a list cover, to find those
// of the rules before a given one that meet a box.
type coverIndex struct {
	boxes []space.Box
	rule  []int // the rule of each box
	idx   *space.Index
	*coverScratch
}

// coverScratch is cover's scratch space, kept from one call to the next
// and, through scratchPool, from one list to the next: it runs for every
// rule of every qube, and growing it anew for each list was a good part of
// what a compile allocates.
type coverScratch struct {
	found []int
	bufs  [2][]space.Box
}

var scratchPool = sync.Pool{New: func() any { return new(coverScratch) }}

// release returns cv's scratch space for another list to use; cv must not
// be used after.
func (cv *coverIndex) release() {
	scratchPool.Put(cv.coverScratch)
	cv.coverScratch = nil
}

// newCoverIndex indexes coverers, the boxes each rule covers.
func newCoverIndex(coverers [][]space.Box) *coverIndex {
	n := 0
	for _, bs := range coverers {
		n += len(bs)
	}
	cv := &coverIndex{boxes: make([]space.Box, 0, n), rule: make([]int, 0, n), coverScratch: scratchPool.Get().(*coverScratch)}
	for j, bs := range coverers {
		for _, b := range bs {
			cv.boxes = append(cv.boxes, b)
			cv.rule = append(cv.rule, j)
		}
	}
	cv.idx = space.NewIndex(cv.boxes, cv.rule)
	return cv
}

// cover reports whether the rules before rule i cover all of target, and
// which of them it met: subtracting their boxes from target in order,
// those whose boxes took something. Only the boxes that meet target can
// take anything, so it subtracts those alone, in the same order. A target
// of no packets, a rule that matches nothing, is not covered: that it never
// takes effect is not for earlier rules to say.
func (cv *coverIndex) cover(target []space.Box, i int) (covering []int, ok bool) {
	if len(target) == 0 {
		return nil, false
	}
	found := cv.found[:0]
	for _, t := range target {
		found = cv.idx.Intersecting(t, i, found)
	}
	slices.Sort(found)
	found = slices.Compact(found)
	cv.found = found
	// rest is target, which must stay as it is, until a subtraction meets
	// it; from then on it is one of bufs, and the next subtraction writes
	// into the other.
	rest := target
	bufs := &cv.bufs
	next := 0
	for k := 0; k < len(found); {
		j := cv.rule[found[k]]
		met := false
		for ; k < len(found) && cv.rule[found[k]] == j; k++ {
			out, m := space.Minus(rest, cv.boxes[found[k]], bufs[next])
			if m {
				met = true
				bufs[next], rest = out, out
				next = 1 - next
			}
			if len(rest) > maxPieces {
				return nil, false
			}
		}
		if met {
			covering = append(covering, j)
		}
		if len(rest) == 0 {
			return covering, true
		}
	}
	return nil, false
}

// Shadowed reports, for each rule of a list read as it stands (each line a
// rule of its own) with dns the DNS target of its qube, whether earlier
// rules of the other verdict take all of its packets first, as the
// compiler judges it: a policy rule written for such a line is refused
// unless it says shadowed: true.
func Shadowed(rules []ir.Rule, dns DNS) []bool {
	boxes, coverers := ruleBoxes(rules, dns)
	cv := newCoverIndex(coverers)
	defer cv.release()
	out := make([]bool, len(rules))
	for i := range rules {
		covering, ok := cv.cover(boxes[i], i)
		for _, j := range covering {
			out[i] = out[i] || ok && rules[j].Action != rules[i].Action
		}
	}
	return out
}

// dnsBehind returns the DNS target of the qubes whose netvm is netvm, as
// its backend, c.backend, reads it.
func (c *compiler) dnsBehind(netvm string) DNS {
	switch c.backend {
	case "nftables":
		// The table's DNS sets are given when it is built (--dns), so
		// they may hold any address.
		return DNS{Semantics: eval.Nftables}
	case "mirage":
		if c.upstreamOf(netvm) == "" {
			// Without a netvm the unikernel passes nothing; the opaque
			// DNS target says no more than that.
			return DNS{Semantics: eval.Mirage}
		}
		return DNS{Servers: eval.QubesDNS(), Semantics: eval.Mirage}
	}
	if c.upstreamOf(netvm) == "" {
		// A firewall qube without a netvm, such as sys-net, forwards DNS
		// to its upstream servers, whose addresses are not known, before
		// its rules see it.
		return DNS{}
	}
	return QubesDNS()
}

// upstreamOf returns the netvm of firewall qube fw: the one the policy
// gives a unikernel firewall qube (sys-net if it gives none and the qube
// is yet to create), or the inventory's.
func (c *compiler) upstreamOf(fw string) string {
	inv, ok := c.pol.Inventory.Qubes[fw]
	for _, f := range c.pol.Firewalls {
		if f.Name != fw || f.Backend != "mirage" {
			continue
		}
		switch {
		case f.MirageNetvm != "":
			return f.MirageNetvm
		case !ok:
			return "sys-net"
		}
	}
	if !ok {
		return ""
	}
	return inv.Netvm
}
