package compiler

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"time"

	"cuelang.org/go/cue/errors"

	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/par"
	"github.com/qfw-dev/qfw/policy"
)

// Options tunes a compilation.
type Options struct {
	// Now is the time against which rule expiry is judged.
	Now time.Time
}

// Result is a compiled policy and what the compiler had to say about it.
type Result struct {
	Program *ir.Program
	// Warnings are findings that do not stop compilation: redundant rules,
	// rules to DNS names, expired rules. Each has a kind (policy.KindOf).
	Warnings []errors.Error
	// Acknowledged are the warnings that the rules they are about
	// acknowledge: expected, so not among Warnings.
	Acknowledged []errors.Error
	// Inventory is the inventory the policy was compiled against.
	Inventory *policy.Inventory
}

// Compile compiles p. It compiles every qube it can and returns all errors
// found; the program is complete only when the error is nil.
func Compile(p *policy.Policy, opts Options) (*Result, errors.Error) {
	c := &compiler{pol: p, opts: opts}
	prog := &ir.Program{}
	c.resolved = c.resolve()
	prog.Resolve = c.resolved
	for _, r := range c.qubes() {
		c.errs = errors.Append(c.errs, r.errs)
		c.warnings = append(c.warnings, r.warnings...)
		c.acknowledged = append(c.acknowledged, r.acknowledged...)
		if r.ok {
			prog.Qubes = append(prog.Qubes, r.qube)
		}
	}
	prog.Firewalls = c.firewalls(prog.Qubes)
	prog.Tests = c.tests()
	policy.SortErrors(c.warnings)
	policy.SortErrors(c.acknowledged)
	var errs errors.Error
	if c.errs != nil {
		list := errors.Errors(c.errs)
		policy.SortErrors(list)
		for _, e := range list {
			errs = errors.Append(errs, e)
		}
	}
	return &Result{Program: prog, Warnings: c.warnings, Acknowledged: c.acknowledged, Inventory: p.Inventory}, errs
}

type compiler struct {
	pol      *policy.Policy
	opts     Options
	resolved map[string][]netip.Addr
	errs     errors.Error
	warnings []errors.Error
	// acknowledged are the warnings the rules they are about
	// acknowledge.
	acknowledged []errors.Error
	// expiredDenies are the expired deny rules of the qube being
	// compiled, whose warnings wait for its whole list.
	expiredDenies []expiredDeny
	// backend is that of the netvm of the qube being compiled (see
	// backendOf).
	backend string
}

// qubeResult is one qube compiled, with what the compiler said about it.
type qubeResult struct {
	qube         ir.Qube
	ok           bool
	errs         errors.Error
	warnings     []errors.Error
	acknowledged []errors.Error
}

// qubes compiles the policy's qubes, in their order. Qubes compile on their
// own, reading only the policy and the resolved names, so they compile in
// parallel, each with a compiler of its own for its findings.
func (c *compiler) qubes() []qubeResult {
	out := make([]qubeResult, len(c.pol.Qubes))
	par.Each(len(out), func(i int) {
		qc := &compiler{pol: c.pol, opts: c.opts, resolved: c.resolved}
		q, ok := qc.qube(&c.pol.Qubes[i])
		qc.acknowledge(&c.pol.Qubes[i], ok)
		out[i] = qubeResult{qube: q, ok: ok, errs: qc.errs, warnings: qc.warnings, acknowledged: qc.acknowledged}
	})
	return out
}

func (c *compiler) errorf(at errors.Error) { c.errs = errors.Append(c.errs, at) }
func (c *compiler) warn(at errors.Error)   { c.warnings = append(c.warnings, at) }

// qube compiles one qube; ok is false if it had errors.
func (c *compiler) qube(pq *policy.Qube) (ir.Qube, bool) {
	before := len(errors.Errors(c.errs))
	path := policy.Path("qubes", pq.Name)
	inv, found := c.pol.Inventory.Qubes[pq.Name]
	if !found {
		c.errorf(policy.Errorf(pq.Pos, path, "qube %q is not in the inventory %s", pq.Name, c.pol.Inventory.Path))
		return ir.Qube{}, false
	}
	if inv.Class == "AdminVM" {
		c.errorf(policy.Errorf(pq.Pos, path, "%q is dom0, which has no firewall rules", pq.Name))
		return ir.Qube{}, false
	}
	q := ir.Qube{Name: pq.Name, Netvm: inv.Netvm, IP: inv.IP, IP6: inv.IP6, Network: !pq.NoNetwork, Pos: pq.Pos}
	c.backend = c.backendOf(inv.Netvm)
	if !pq.NoNetwork && inv.Netvm == "" {
		c.warn(policy.Warnf(policy.NoNetvm, pq.Pos, path, "qube %q has no netvm, so no firewall enforces its rules until it gets one; write network: false if it must never have network", pq.Name))
	}

	if pq.NoNetwork {
		if inv.Netvm != "" {
			c.errorf(policy.Errorf(pq.Pos, policy.Path("qubes", pq.Name, "network"), "network: false, but the inventory gives qube %q the netvm %q; set its netvm to none", pq.Name, inv.Netvm))
		}
		for _, r := range pq.Rules {
			c.errorf(policy.Errorf(r.Pos, r.Path(pq.Name), "qube %q has network: false, so it can have no rules", pq.Name))
		}
		// dom0 refuses an empty list; a single drop blocks everything
		// should the qube ever be given a netvm.
		q.Rules = []ir.Rule{{Action: ir.Drop, Comment: "network-false", Origin: ir.Origin{Pos: pq.Pos}}}
		return q, len(errors.Errors(c.errs)) == before
	}

	rules := make([]*policy.Rule, len(pq.Rules))
	for i := range pq.Rules {
		rules[i] = &pq.Rules[i]
	}
	// The compiled order: priority, then deny before allow, then name.
	sort.SliceStable(rules, func(i, j int) bool {
		a, b := rules[i], rules[j]
		if a.Priority != b.Priority {
			return a.Priority < b.Priority
		}
		if a.Deny != b.Deny {
			return a.Deny
		}
		return a.Name < b.Name
	})
	// Each rule's list is kept until all are compiled, so that the
	// qube's list is made once, at its size.
	lists := make([][]ir.Rule, len(rules))
	n := 0
	for i, r := range rules {
		lists[i] = c.rule(pq.Name, r)
		n += len(lists[i])
	}
	q.Rules = slices.Grow(q.Rules, n)
	for _, l := range lists {
		q.Rules = append(q.Rules, l...)
	}
	if len(errors.Errors(c.errs)) != before {
		c.warnExpiredDenies(&q, false)
		return q, false
	}
	if len(q.Rules) == 0 {
		// No rules allow nothing; dom0 refuses an empty list.
		q.Rules = []ir.Rule{{Action: ir.Drop, Comment: "no-rules", Origin: ir.Origin{Pos: pq.Pos}}}
	}
	for i := range q.Rules {
		// Each step above keeps rules valid; this makes sure no output
		// leaves that dom0 or an agent would read otherwise.
		if err := q.Rules[i].Validate(); err != nil {
			c.errorf(policy.Errorf(q.Rules[i].Origin.Pos, path, "internal error: compiled rule %s is invalid: %v", q.Rules[i].Match, err))
		}
	}
	c.analyse(&q, shadowedOrigins(pq), c.dnsBehind(inv.Netvm))
	c.checkResolved(&q)
	c.warnExpiredDenies(&q, len(errors.Errors(c.errs)) == before)
	return q, len(errors.Errors(c.errs)) == before
}

// shadowedOrigins returns the origins of the rules of pq that say
// shadowed: true.
func shadowedOrigins(pq *policy.Qube) map[ir.Origin]bool {
	var out map[ir.Origin]bool
	for _, r := range pq.Rules {
		if r.Shadowed {
			if out == nil {
				out = map[ir.Origin]bool{}
			}
			kind := ir.Allow
			if r.Deny {
				kind = ir.Deny
			}
			out[ir.Origin{Kind: kind, Name: r.Name, Pos: r.Pos}] = true
		}
	}
	return out
}

// checkResolved warns about the rules of q to names that the resolve
// section says have no address in a family q has an address in: the Linux
// agent refuses the whole list of that family when a name does not resolve
// in it, and drops all of q's traffic of that family; qfw's nftables
// backend does so for a deny to the name only.
func (c *compiler) checkResolved(q *ir.Qube) {
	warned := map[string]bool{}
	for _, r := range q.Rules {
		addrs, pinned := c.resolved[r.Dst.Host]
		if r.Dst.Host == "" || !pinned || warned[r.Dst.Host] {
			continue
		}
		for _, fam := range []struct {
			own  netip.Addr
			name string
			is4  bool
		}{{q.IP, "IPv4", true}, {q.IP6, "IPv6", false}} {
			if !fam.own.IsValid() || slices.ContainsFunc(addrs, func(a netip.Addr) bool { return a.Is4() == fam.is4 }) {
				continue
			}
			warned[r.Dst.Host] = true
			at := policy.Path("qubes", q.Name, r.Origin.Kind.String(), r.Origin.Name)
			if c.backend == "nftables" {
				what := fmt.Sprintf("an allow to it matches nothing in %s", fam.name)
				if r.Action == ir.Drop {
					what = fmt.Sprintf("a deny to it blocks qube %q's %s traffic", q.Name, fam.name)
				}
				c.warn(policy.Warnf(policy.Unresolved, r.Origin.Pos, at,
					"%s has no %s address in resolve: behind qfw's nftables backend %s; pin the name's %s addresses, or give the qube no %s address",
					r.Dst.Host, fam.name, what, fam.name, fam.name))
				continue
			}
			c.warn(policy.Warnf(policy.Unresolved, r.Origin.Pos, at,
				"%s has no %s address in resolve, and a name that does not resolve makes the Linux agent refuse qube %q's whole %s list and drop all its %s traffic; pin the name's %s addresses, or give the qube no %s address",
				r.Dst.Host, fam.name, q.Name, fam.name, fam.name, fam.name, fam.name))
		}
	}
}

// firewalls resolves the firewalls section and gives every netvm of a
// managed qube its backend.
func (c *compiler) firewalls(qubes []ir.Qube) []ir.Firewall {
	byName := map[string]*ir.Firewall{}
	for _, f := range c.pol.Firewalls {
		path := policy.Path("firewalls", f.Name)
		inv, ok := c.pol.Inventory.Qubes[f.Name]
		switch {
		case f.Backend == "mirage":
			// qfw provisions a unikernel firewall qube: it may be yet to
			// create, or not yet provide network.
		case !ok:
			c.errorf(policy.Errorf(f.Pos, path, "firewall qube %q is not in the inventory %s", f.Name, c.pol.Inventory.Path))
			continue
		case !inv.ProvidesNetwork:
			c.errorf(policy.Errorf(f.Pos, path, "qube %q does not provide network, so it enforces no firewall", f.Name))
			continue
		}
		fw := &ir.Firewall{Name: f.Name, Netvm: c.upstreamOf(f.Name), MirageVersion: f.MirageVersion, Pos: f.Pos}
		if ok {
			fw.IP = inv.IP
		}
		switch f.Backend {
		case "nftables":
			fw.Backend = ir.Nftables
		case "mirage":
			fw.Backend = ir.Mirage
			fw.Provision = &ir.Provision{KernelSHA256: f.KernelSHA256, KernelPath: f.KernelPath, KernelDir: f.KernelDir, Label: f.MirageLabel, NetvmSet: f.MirageNetvm != ""}
		default:
			fw.Backend = ir.QubesAgent
		}
		byName[f.Name] = fw
	}
	for _, q := range qubes {
		if q.Netvm == "" {
			continue
		}
		fw := byName[q.Netvm]
		if fw == nil {
			fw = &ir.Firewall{Name: q.Netvm, Backend: ir.QubesAgent}
			if inv, ok := c.pol.Inventory.Qubes[q.Netvm]; ok {
				fw.Netvm, fw.IP = inv.Netvm, inv.IP
			}
			byName[q.Netvm] = fw
		}
		fw.Clients = append(fw.Clients, q.Name)
	}
	out := make([]ir.Firewall, 0, len(byName))
	for _, fw := range byName {
		out = append(out, *fw)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// tests checks the tests section: each names a qube the policy manages,
// a destination and protocol that make sense together, and addresses.
func (c *compiler) tests() []ir.Test {
	managed := map[string]bool{}
	for _, q := range c.pol.Qubes {
		managed[q.Name] = true
	}
	var out []ir.Test
	for _, t := range c.pol.Tests {
		path := func(field string) string { return policy.Path("tests", t.Index, field) }
		ok := true
		fail := func(at policy.String, field, format string, args ...any) {
			c.errorf(policy.Errorf(at.Pos, path(field), format, args...))
			ok = false
		}
		it := ir.Test{Index: t.Index, From: t.From.S, ToText: t.To.S, Pos: t.Pos, Expect: ir.Accept}
		if t.Expect.S == "drop" {
			it.Expect = ir.Drop
		}
		if !managed[t.From.S] {
			fail(t.From, "from", "qube %q is not managed by this policy", t.From.S)
		}
		if t.To.S != "any" {
			d, err := ir.ParseDst(t.To.S)
			if err != nil {
				fail(t.To, "to", "%v", err)
			}
			it.To = d
		}
		switch t.Proto.S {
		case "tcp":
			it.Protos = []ir.Proto{ir.TCP}
		case "udp":
			it.Protos = []ir.Proto{ir.UDP}
		case "icmp":
			it.Protos = []ir.Proto{ir.ICMP}
		case "":
			switch {
			case t.HasPort:
				it.Protos = []ir.Proto{ir.TCP}
			case t.HasICMP:
				it.Protos = []ir.Proto{ir.ICMP}
			default:
				it.Protos = []ir.Proto{ir.TCP, ir.UDP, ir.ICMP, ir.AnyProto}
			}
		}
		if t.HasPort {
			it.HasPort, it.Port = true, uint16(t.Port.N)
			if t.Proto.S == "icmp" {
				fail(policy.String{Pos: t.Port.Pos}, "port", "port goes with tcp or udp, not icmp")
			}
		}
		if t.HasICMP {
			it.HasICMPType, it.ICMPType, it.ICMPv6 = true, uint8(t.ICMP.N), t.ICMPv6
			if t.Proto.S == "tcp" || t.Proto.S == "udp" || t.HasPort {
				fail(policy.String{Pos: t.ICMP.Pos}, "icmp", "an ICMP type goes with icmp, not tcp or udp")
			}
		}
		switch {
		case t.Addresses != nil && len(t.Addresses) == 0:
			fail(t.To, "addresses", "addresses is empty; to pin that a name has no address, write it in resolve")
		case len(t.Addresses) > 0 && it.To.Host == "":
			fail(t.Addresses[0], "addresses", "addresses pin what a host name resolves to, but to is not a host name")
		}
		for _, a := range t.Addresses {
			if addr, ok := c.address(a, path("addresses")); ok {
				it.Addresses = append(it.Addresses, addr)
			}
		}
		if ok {
			out = append(out, it)
		}
	}
	return out
}

// resolve checks the resolve section: names as rules take them, and
// addresses.
func (c *compiler) resolve() map[string][]netip.Addr {
	out := map[string][]netip.Addr{}
	for _, pin := range c.pol.Resolve {
		path := policy.Path("resolve", pin.Name.S)
		d, err := ir.ParseDst(pin.Name.S)
		switch {
		case err != nil:
			c.errorf(policy.Errorf(pin.Name.Pos, path, "%v", err))
			continue
		case d.Host == "":
			c.errorf(policy.Errorf(pin.Name.Pos, path, "%q is an address, not a host name", pin.Name.S))
			continue
		}
		list := []netip.Addr{}
		for _, a := range pin.Addrs {
			if addr, ok := c.address(a, path); ok {
				list = append(list, addr)
			}
		}
		out[pin.Name.S] = list
	}
	return out
}

// address parses an IP address that a name resolves to.
func (c *compiler) address(a policy.String, path string) (netip.Addr, bool) {
	addr, err := netip.ParseAddr(a.S)
	if err != nil || addr.Zone() != "" || addr.Is4In6() {
		c.errorf(policy.Errorf(a.Pos, path, "%q is not an IPv4 or IPv6 address", a.S))
		return netip.Addr{}, false
	}
	return addr, true
}
