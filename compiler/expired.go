package compiler

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"cuelang.org/go/cue/token"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/reach"
	"github.com/qfw-dev/qfw/policy"
)

// expiredDeny is a deny rule past its expire time. Its warning waits for
// the qube's whole list: dom0 drops the rule, which lets the qube reach
// what it denied unless other rules drop that too, and the warning says
// what opens.
type expiredDeny struct {
	origin ir.Origin
	// pos is that of the expire field, path the rule's.
	pos  token.Pos
	path string
	at   int64
}

// warnExpired warns about a rule of kind that expired at at.
func (c *compiler) warnExpired(pos token.Pos, path string, at int64, kind ir.Kind, name string, rulePos token.Pos) {
	if kind == ir.Deny {
		c.expiredDenies = append(c.expiredDenies, expiredDeny{origin: ir.Origin{Kind: kind, Name: name, Pos: rulePos}, pos: pos, path: path, at: at})
		return
	}
	c.warn(policy.Warnf(policy.Expired, pos, path, "rule expired at %s; dom0 drops it", formatExpiry(at)))
}

func formatExpiry(at int64) string { return time.Unix(at, 0).UTC().Format(time.RFC3339) }

// warnExpiredDenies warns about the expired deny rules of q, saying what
// their removal opens to q: the packets each denied that q's list, as dom0
// writes it now, accepts. With complete false, the list is not whole (the
// qube has errors), and the warnings say no more than that dom0 drops the
// rules; nor do they for a qube without a netvm, which reaches nothing
// (another warning says so).
func (c *compiler) warnExpiredDenies(q *ir.Qube, complete bool) {
	for _, d := range c.expiredDenies {
		if !complete || q.Netvm == "" {
			c.warn(policy.Warnf(policy.Expired, d.pos, d.path, "rule expired at %s; dom0 drops it", formatExpiry(d.at)))
			continue
		}
		opened, also := c.opened(q, d.origin)
		if len(opened) == 0 {
			c.warn(policy.Warnf(policy.Expired, d.pos, d.path,
				"rule expired at %s; dom0 drops it, which opens nothing: qube %q's other rules drop all it denied", formatExpiry(d.at), q.Name))
			continue
		}
		c.warn(policy.WarnfAlso(policy.Expired, d.pos, also, d.path,
			"rule expired at %s; dom0 drops it, which opens to qube %q: %s; remove the rule, or set a later expire if it must still deny",
			formatExpiry(d.at), q.Name, strings.Join(opened, "; ")))
	}
	c.expiredDenies = nil
}

// opened returns what q reaches without the rule of origin that it would
// not reach if the rule had not expired, one line each ("tcp 22 to
// 10.0.0.0/8 (accepted by allow.rest)"), and the positions of the rules
// that accept it. It reads q's lists as its firewall qube's backend does.
func (c *compiler) opened(q *ir.Qube, origin ir.Origin) ([]string, []token.Pos) {
	kept := slices.Clone(q.Rules)
	for i := range kept {
		if kept[i].Origin == origin {
			kept[i].Expire = 0
		}
	}
	now := c.opts.Now.Unix()
	base, head := c.reachInput(q, kept, now), c.reachInput(q, q.Rules, now)
	u := reach.NewUniverse(append(reach.Names(base), reach.Names(head)...))
	sb, sh := reach.Compute(u, base), reach.Compute(u, head)
	var widened []reach.Change
	for _, ch := range reach.Diff(sb, sh) {
		// Removing a deny can only widen; the filter keeps the message
		// about what opens even if a model change made it otherwise.
		if ch.Widened {
			widened = append(widened, ch)
		}
	}
	var out []string
	var also []token.Pos
	for _, l := range reach.Summarise(u, sb, sh, widened) {
		s := l.String()
		if r := l.Head.Rule; r != nil && r.Origin.Name != "" {
			s += " (accepted by " + r.Origin.String() + ")"
			if !slices.Contains(also, r.Origin.Pos) {
				also = append(also, r.Origin.Pos)
			}
		}
		out = append(out, s)
	}
	return out, also
}

// reachInput returns q's lists, made of rules, as its netvm reads
// them at now: dom0 writes each family's list without the expired rules,
// and the backend reads it with its own semantics. The unikernel drops
// all IPv6, so it reads the IPv4 list alone.
func (c *compiler) reachInput(q *ir.Qube, rules []ir.Rule, now int64) *reach.Input {
	dns := c.dnsBehind(q.Netvm)
	in := &reach.Input{Options: eval.Options{Resolver: eval.Table(c.resolved), Semantics: dns.Semantics}}
	if dns.Servers != nil {
		in.Options.DNS4 = dns.Servers
	} else {
		in.Options.DNSUnknown = true
	}
	for i, ip := range []netip.Addr{q.IP, q.IP6} {
		family := 4 + 2*i
		if family == 6 && dns.Semantics == eval.Mirage {
			continue
		}
		in.Lists[i] = ir.FamilyRules(rules, family, now)
		if ip.IsValid() {
			in.Families = append(in.Families, family)
		}
	}
	return in
}
