package compiler

import (
	"strings"

	"github.com/qfw-dev/qfw/policy"
)

// acknowledge sets aside the warnings about the rules of pq that the rules
// acknowledge (their ack field names the warning's kind), and warns about
// each acknowledgement that matches no warning, so that stale ones do not
// pile up. It judges staleness only for a qube that compiled (ok): the
// analyses of one that did not are incomplete.
//
// Behind a unikernel firewall, the host-name warnings come from the
// unikernel's checks after compilation, which this pass does not see: an
// ack of them there is neither applied nor judged.
func (c *compiler) acknowledge(pq *policy.Qube, ok bool) {
	rules := map[string]*policy.Rule{}
	for i := range pq.Rules {
		if r := &pq.Rules[i]; len(r.Acks) > 0 {
			rules[r.Path(pq.Name)] = r
		}
	}
	if len(rules) == 0 {
		return
	}
	type use struct {
		rule *policy.Rule
		kind policy.Kind
	}
	used := map[use]bool{}
	kept := c.warnings[:0]
	for _, w := range c.warnings {
		r := rules[strings.Join(w.Path(), ".")]
		if k := policy.KindOf(w); r != nil && acks(r, k) {
			used[use{r, k}] = true
			c.acknowledged = append(c.acknowledged, w)
			continue
		}
		kept = append(kept, w)
	}
	c.warnings = kept
	if !ok {
		return
	}
	for i := range pq.Rules {
		r := &pq.Rules[i]
		for _, a := range r.Acks {
			k := policy.Kind(a.S)
			if used[use{r, k}] || k == policy.Hostname && c.backend == "mirage" {
				continue
			}
			c.warn(policy.Warnf(policy.UnusedAck, a.Pos, r.Path(pq.Name)+".ack",
				"ack %q matches no warning of this rule in qube %q; remove it", a.S, pq.Name))
		}
	}
}

// acks reports whether r acknowledges warnings of kind k.
func acks(r *policy.Rule, k policy.Kind) bool {
	if k == "" {
		return false
	}
	for _, a := range r.Acks {
		if policy.Kind(a.S) == k {
			return true
		}
	}
	return false
}
