package policytest

import (
	"net/netip"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
)

// Enforcer is a firewall qube as it enforces one client's rules.
type Enforcer struct {
	// Firewall is the firewall qube: the client's netvm.
	Firewall string
	Backend  ir.Backend
	// Lists are the client's rules as the firewall qube reads them, for
	// IPv4 and IPv6; Rule indices of results point into these.
	Lists [2][]ir.Rule
	// Families are the address families the client has an address in,
	// and so can send packets in.
	Families []int
	// Options are the evaluator's: the semantics of the backend, the DNS
	// servers as the firewall qube sees them.
	Options eval.Options
	eval    *eval.Evaluator
}

// List returns the list of family (4 or 6).
func (e *Enforcer) List(family int) []ir.Rule { return e.Lists[family/6] }

// Eval decides p.
func (e *Enforcer) Eval(p eval.Packet) eval.Result { return e.eval.Eval(p) }

// Enforcers returns where q's rules are enforced: by its netvm, in the
// lists that dom0 writes for it at time now. A qube without a netvm has
// none: its packets go nowhere. l, if not nil, is what mirage.Lower
// returned for q's rules at time now, which the caller has lowered for its
// unikernel firewall already, and is read instead of lowering them again.
//
// Only the direct netvm enforces q's rules; an upstream firewall sees the
// netvm's address, and enforces the netvm's own rules.
func Enforcers(prog *ir.Program, q *ir.Qube, res eval.Resolver, now int64, l *mirage.Lowering) []Enforcer {
	if q.Netvm == "" {
		return nil
	}
	fw := ir.Firewall{Name: q.Netvm}
	for _, f := range prog.Firewalls {
		if f.Name == q.Netvm {
			fw = f
		}
	}
	e := Enforcer{Firewall: fw.Name, Backend: fw.Backend, Options: eval.Options{Resolver: res}}
	if fw.Netvm != "" {
		e.Options.DNS4 = eval.QubesDNS()
	} else {
		// A firewall qube without a netvm (sys-net) forwards DNS to its
		// upstream servers before its rules see it.
		e.Options.DNSUnknown = true
	}
	if fw.Backend == ir.Nftables {
		e.Options.Semantics = eval.Nftables
	}
	for i, ip := range []netip.Addr{q.IP, q.IP6} {
		family := 4 + 2*i
		// Every backend reads the lists dom0 writes into QubesDB.
		e.Lists[i] = ir.FamilyRules(q.Rules, family, now)
		if ip.IsValid() {
			e.Families = append(e.Families, family)
		}
	}
	if fw.Backend == ir.Mirage {
		e.Options.Semantics = eval.Mirage
		e.Options.Self = fw.IP
		// An unknown release reads nothing (vet says so).
		e.Lists = [2][]ir.Rule{}
		if rel, err := mirage.LookupRelease(fw.MirageVersion); err == nil {
			e.Lists = mirageLists(q, fw, rel, now, l)
			// Without a netvm, nothing goes on, DNS neither.
			e.Options.NoNames, e.Options.GatewayDNS = !rel.NamesWork(), rel.GatewayDNS && fw.Netvm != ""
		}
	}
	e.eval = eval.New(e.Lists[0], e.Lists[1], e.Options)
	return []Enforcer{e}
}

// mirageLists returns q's lists as the unikernel reads them: the IPv4
// rules up to the first gap in dom0's numbering, or none (drop all) if it
// cannot parse one of them, if q has no IPv4 address, or if the firewall
// qube has no netvm; and no IPv6 list, as it drops all IPv6. l is the
// lowering of q's rules at now, or nil to lower them here.
func mirageLists(q *ir.Qube, fw ir.Firewall, rel mirage.Release, now int64, l *mirage.Lowering) [2][]ir.Rule {
	if !q.IP.Is4() || fw.Netvm == "" {
		// Without a netvm, the unikernel waits for its network forever,
		// and passes nothing.
		return [2][]ir.Rule{}
	}
	if l == nil {
		var err error
		if l, err = mirage.Lower(q.IP, q.Rules, rel, now); err != nil {
			return [2][]ir.Rule{}
		}
	}
	var read []ir.Rule
	for _, rep := range l.Rules {
		switch rep.Status {
		case mirage.Voided:
			return [2][]ir.Rule{}
		case mirage.Enforced:
			read = append(read, q.Rules[rep.Index])
		}
	}
	return [2][]ir.Rule{read, nil}
}
