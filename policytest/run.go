package policytest

import (
	"maps"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
)

// Outcome is the result of one test.
type Outcome struct {
	Test *ir.Test
	// Passed says whether every packet the test stands for met its
	// expectation, whatever unpinned names resolve to.
	Passed bool
	// Packets is how many packets were tried.
	Packets int
	// NoNetvm says that the qube has no netvm, so its packets go nowhere.
	NoNetvm bool
	// The rest describe the first packet that did not pass, if any.
	//
	// Enforcer is nil when no firewall enforces the qube's rules: it has no
	// netvm, or no address in the destination's family, so the packet
	// goes nowhere.
	Enforcer *Enforcer
	Packet   eval.Packet
	Result   eval.Result
}

// Rule returns rule i of the family list the outcome's packet was decided
// by, or nil if i is -1.
func (o *Outcome) Rule(i int) *ir.Rule {
	if o.Enforcer == nil || i < 0 {
		return nil
	}
	return &o.Enforcer.List(o.Packet.IPFamily())[i]
}

// Run checks every test of prog, with the rules as dom0 writes them at
// time now. lowered holds, by qube name, what mirage.Lower returned for
// the rules of qubes behind unikernel firewalls at time now, which the
// caller has lowered already; the tests read it instead of lowering those
// lists again, and lower the others, and any missing from it, themselves.
func Run(prog *ir.Program, now int64, lowered map[string]*mirage.Lowering) []Outcome {
	qubes := make(map[string]*ir.Qube, len(prog.Qubes))
	for i := range prog.Qubes {
		qubes[prog.Qubes[i].Name] = &prog.Qubes[i]
	}
	table := eval.Table(prog.Resolve)
	shared := map[string][]Enforcer{}
	out := make([]Outcome, len(prog.Tests))
	for i := range prog.Tests {
		t := &prog.Tests[i]
		q := qubes[t.From]
		if q == nil {
			// A test from a qube that did not compile cannot be checked.
			out[i] = Outcome{Test: t}
			continue
		}
		res, enforcers := table, shared[t.From]
		if len(t.Addresses) > 0 {
			// Pinned addresses hold for this test's rules to the name too.
			res = maps.Clone(table)
			res[t.To.Host] = t.Addresses
			enforcers = Enforcers(prog, q, res, now, lowered[q.Name])
		} else if enforcers == nil {
			enforcers = Enforcers(prog, q, res, now, lowered[q.Name])
			shared[t.From] = enforcers
		}
		out[i] = check(t, enforcers, res)
	}
	return out
}

// check tries every packet t stands for at each enforcer, and stops at the
// first that does not meet the expectation or whose fate depends on DNS.
func check(t *ir.Test, enforcers []Enforcer, res eval.Resolver) Outcome {
	o := Outcome{Test: t, Passed: true, NoNetvm: len(enforcers) == 0}
	probe := Probe{
		To: t.To, Protos: t.Protos,
		HasPort: t.HasPort, Port: t.Port, HasICMPType: t.HasICMPType, ICMPType: t.ICMPType, ICMPv6: t.ICMPv6,
	}
	for i := range enforcers {
		e := &enforcers[i]
		for _, p := range e.Packets(probe, res) {
			o.Packets++
			r := e.Eval(p)
			if r.Action != t.Expect || !r.Exact() {
				o.Passed, o.Enforcer, o.Packet, o.Result = false, e, p, r
				return o
			}
		}
	}
	// No packet at all: the qube cannot send any to the destination, which
	// is as good as a drop.
	if o.Packets == 0 && t.Expect == ir.Accept {
		o.Passed = false
		o.Result = eval.Result{Action: ir.Drop, Rule: -1, Blocked: -1, Possible: -1, MayBlock: -1}
	}
	return o
}
