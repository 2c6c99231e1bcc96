package compiler

import (
	"fmt"
	"strings"

	"github.com/qfw-dev/qfw/policy"
)

// acknowledge sets aside the warnings about pq and its rules that they
// acknowledge (their ack field names the warning's kind), and warns about
// each acknowledgement that matches no warning, so that stale ones do not
// pile up. It judges staleness only for a qube that compiled (ok): the
// analyses of one that did not are incomplete.
//
// Behind a unikernel firewall, the host-name warnings come from the
// unikernel's checks after compilation, which this pass does not see: an
// ack of them there is neither applied nor judged.
func (c *compiler) acknowledge(pq *policy.Qube, ok bool) {
	// ackers holds what acknowledges, by the path of its warnings.
	type acker struct {
		path string
		// what names the acker in a message: `qube "work"` or `this
		// rule in qube "work"`.
		what string
		acks []policy.String
	}
	ackers := map[string]*acker{}
	var order []*acker
	add := func(path, what string, acks []policy.String) {
		a := &acker{path: path, what: what, acks: acks}
		ackers[path] = a
		order = append(order, a)
	}
	// (Few qubes and rules acknowledge anything: their paths are made
	// only for those that do.)
	if len(pq.Acks) > 0 {
		add(policy.Path("qubes", pq.Name), fmt.Sprintf("qube %q", pq.Name), pq.Acks)
	}
	for i := range pq.Rules {
		if len(pq.Rules[i].Acks) > 0 {
			add(pq.Rules[i].Path(pq.Name), fmt.Sprintf("this rule in qube %q", pq.Name), pq.Rules[i].Acks)
		}
	}
	if len(order) == 0 {
		return
	}
	type use struct {
		a    *acker
		kind policy.Kind
	}
	used := map[use]bool{}
	kept := c.warnings[:0]
	for _, w := range c.warnings {
		a, k := ackers[strings.Join(w.Path(), ".")], policy.KindOf(w)
		if a != nil && acks(a.acks, k) {
			used[use{a, k}] = true
			c.acknowledged = append(c.acknowledged, w)
			continue
		}
		kept = append(kept, w)
	}
	c.warnings = kept
	if !ok {
		return
	}
	for _, a := range order {
		for _, ack := range a.acks {
			k := policy.Kind(ack.S)
			if used[use{a, k}] || k == policy.Hostname && c.backend == "mirage" {
				continue
			}
			c.warn(policy.Warnf(policy.UnusedAck, ack.Pos, a.path+".ack",
				"ack %q matches no warning of %s; remove it", ack.S, a.what))
		}
	}
}

// acks reports whether list acknowledges warnings of kind k.
func acks(list []policy.String, k policy.Kind) bool {
	if k == "" {
		return false
	}
	for _, a := range list {
		if policy.Kind(a.S) == k {
			return true
		}
	}
	return false
}
