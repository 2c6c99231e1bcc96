package mirage

import (
	"fmt"
	"net/netip"
	"time"

	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// The unikernel reads a client's rules from key 0000 on and stops at the
// first missing key. dom0 names each key by the rule's position in the
// whole list and writes to the IPv4 tree neither IPv6 rules nor expired
// ones, so either kind before an IPv4 rule truncates the list. That fails
// closed, since the default is drop, but the rules after the gap silently
// stop applying.

// checkOrder reports, as errors, the rules of a client's list as dom0
// stores it that leave a gap in the IPv4 tree at time now (UNIX seconds)
// before a rule that dom0 does write there: IPv6 rules, and rules that
// have expired (0 < Expire <= now). It warns about a rule that will
// expire before such rules: once it has, the same gap appears whenever
// dom0 rewrites the entries before dropping it from its list, as after a
// qubesd restart, which loses the expiry timer.
func checkOrder(rules []ir.Rule, now int64) []Diagnostic {
	var ds []Diagnostic
	ipv4 := newIPv4After(rules)
	for i, r := range rules {
		key := ir.QubesDBIndex(i)
		switch {
		case r.Dst.Family() == 6:
			if n, first := ipv4.after(i, now); n > 0 {
				ds = append(ds, diagAt(rules, i, Error,
					"this IPv6 rule leaves key %s out of the client's IPv4 tree, and the unikernel stops reading at the gap, ignoring %s; put IPv6 rules after all others, in a rule of their own with a later priority",
					key, following(rules, n, first)))
			}
		case r.Expire != 0 && r.Expire <= now:
			if n, first := ipv4.after(i, now); n > 0 {
				ds = append(ds, diagAt(rules, i, Error,
					"this rule expired at %s, so dom0 no longer writes key %s, and the unikernel stops reading at the gap, ignoring %s; remove the rule, or set the list again so that dom0 drops it",
					formatTime(r.Expire), key, following(rules, n, first)))
			}
		case r.Expire != 0:
			if n, first := ipv4.after(i, r.Expire); n > 0 {
				ds = append(ds, diagAt(rules, i, Warning,
					"this rule expires at %s; if dom0 rewrites the client's entries after that before dropping it (a qubesd restart loses the expiry timer), key %s goes missing and the unikernel stops reading there, ignoring %s; where the rule can come last, give it the latest priority",
					formatTime(r.Expire), key, following(rules, n, first)))
			}
		}
	}
	return ds
}

// ipv4After answers, for one list, how many rules after rule i dom0
// writes to the IPv4 tree at time t, and the index of the first. It counts
// the list once for each time it is asked about, not once for each rule:
// a list holds few distinct expiry times, while one policy rule can hold
// thousands of IPv6 rules, each asking.
type ipv4After struct {
	rules []ir.Rule
	at    map[int64]ipv4Counts
}

// ipv4Counts holds, for each index i of a list and at one time, how many
// rules from i on dom0 writes to the IPv4 tree (n[i]), and the first of
// them (first[i], -1 if none); both have a last entry for the list's end.
type ipv4Counts struct {
	n, first []int
}

func newIPv4After(rules []ir.Rule) *ipv4After {
	return &ipv4After{rules: rules, at: map[int64]ipv4Counts{}}
}

// after returns how many rules after rule i dom0 writes to the IPv4 tree
// at time t, and the index of the first (-1 if none).
func (a *ipv4After) after(i int, t int64) (n, first int) {
	c, ok := a.at[t]
	if !ok {
		c = ipv4Counts{n: make([]int, len(a.rules)+1), first: make([]int, len(a.rules)+1)}
		c.first[len(a.rules)] = -1
		for j := len(a.rules) - 1; j >= 0; j-- {
			c.n[j], c.first[j] = c.n[j+1], c.first[j+1]
			if ir.InFamilyList(a.rules[j], 4, t) {
				c.n[j]++
				c.first[j] = j
			}
		}
		a.at[t] = c
	}
	return c.n[i+1], c.first[i+1]
}

// following names the n IPv4 rules after a gap, the first of which is
// rules[first]: "the IPv4 rule after it, allow.web", or "the 3 IPv4 rules
// after it, starting with allow.web".
func following(rules []ir.Rule, n, first int) string {
	if n == 1 {
		return "the IPv4 rule after it, " + ruleName(rules, first)
	}
	return fmt.Sprintf("the %d IPv4 rules after it, starting with %s", n, ruleName(rules, first))
}

// Whole families, as dom0 keeps them in a rule for one family.
var (
	allIPv4 = ir.Dst{Prefix: netip.PrefixFrom(netip.IPv4Unspecified(), 0)}
	allIPv6 = ir.Dst{Prefix: netip.PrefixFrom(netip.IPv6Unspecified(), 0)}
)

// Reorder returns rules, a client's list as dom0 would store it, with every
// IPv6 rule moved after all the rules dom0 writes to the IPv4 tree, so
// that the unikernel reads the IPv4 list without a gap. IPv4 rules keep
// their order, and so do IPv6 rules; the list means the same in both
// families, for the unikernel and for a Linux firewall qube, should the
// client move to one.
//
// Moving a rule for both families before an IPv6 rule changes the IPv6
// list if the two may decide one packet differently. Where that rule has
// no host name and no ICMP type, Reorder splits it into a rule for IPv4
// (dst4=0.0.0.0/0), which stays in place, and one for IPv6 (dst6=::/0),
// which goes after the IPv6 rule; a deny-LAN profile followed by "allow
// any" becomes mirage-safe this way. A rule to a host name cannot be
// split (the name is for both families), nor can one with an ICMP type
// (its meaning differs between IPv4 and IPv6 rules); for those Reorder
// returns an error positioned at the rule, one per rule, and no list.
//
// Expiry is not considered: see checkOrder.
func Reorder(rules []ir.Rule) ([]ir.Rule, error) {
	var head, tail []ir.Rule
	// from holds, for each rule of tail, its index in rules.
	var from []int
	var errs errors.Error
	for i, r := range rules {
		if r.Dst.Family() == 4 {
			head = append(head, r)
			continue
		}
		if r.Dst.Family() == 6 {
			tail, from = append(tail, r), append(from, i)
			continue
		}
		k := -1
		for j, d := range tail {
			if conflictsIPv6(r, d) {
				k = j
				break
			}
		}
		switch {
		case k < 0:
			head = append(head, r)
		case r.Dst.Host != "" || r.HasICMPType:
			what := "its host name " + r.Dst.Host + " is for both families"
			if r.Dst.Host == "" {
				what = "its ICMP type means one thing in an IPv4 rule and another in an IPv6 rule"
			}
			d := diagAt(rules, i, Error,
				"this rule must come before %s, an IPv6 rule, so that the unikernel reads it (it stops at the gap an IPv6 rule leaves), but the two may decide the same IPv6 traffic differently, and the rule cannot be split by family, as %s; give %s a later priority than this rule, or write this rule's destinations as addresses",
				ruleName(rules, from[k]), what, ruleName(rules, from[k]))
			d.Also = []token.Pos{rules[from[k]].Origin.Pos}
			errs = errors.Append(errs, &d)
		default:
			v4, v6 := r, r
			v4.Dst, v6.Dst = allIPv4, allIPv6
			head = append(head, v4)
			tail, from = append(tail, v6), append(from, i)
		}
	}
	if errs != nil {
		return nil, errs
	}
	return append(head, tail...), nil
}

// formatTime returns the UNIX time t as an RFC 3339 time in UTC.
func formatTime(t int64) string { return time.Unix(t, 0).UTC().Format(time.RFC3339) }
