package nftables_test

import (
	"net/netip"
	"testing"

	"github.com/qfw-dev/qfw/backends/nftables"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/internal/testnet"
)

// TestNameMovesOnRealPackets: a name's address changes, and only set
// elements change in the kernel: a connection to the new address passes,
// one to the old is refused, a deny to the name follows it too, and the
// other client's chain is not touched; the evaluator agrees throughout.
func TestNameMovesOnRealPackets(t *testing.T) {
	svc := ir.Dst{Host: "svc.test"}
	web := ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ir.PortRange{First: 443, Last: 443}}
	named := web
	named.Dst = svc
	clients := []nftables.Client{
		{Name: "work", Addr4: netip.MustParseAddr("10.137.0.11"), Rules4: []ir.Rule{{Action: ir.Accept, Match: named}}},
		{Name: "guard", Addr4: netip.MustParseAddr("10.137.0.12"), Rules4: []ir.Rule{{Action: ir.Drop, Match: ir.Match{Dst: svc}}, {Action: ir.Accept, Match: web}}},
		{Name: "plain", Addr4: netip.MustParseAddr("10.137.0.13"), Rules4: []ir.Rule{{Action: ir.Accept, Match: web}}},
	}
	oldAddr, newAddr := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.20")
	options := func(a netip.Addr) nftables.Options {
		return nftables.Options{Resolver: eval.Table{"svc.test": {a}}}
	}
	topo := testnet.New(t, clients)
	old, _ := nftables.Lower(clients, options(oldAddr))
	topo.Apply(t, old)
	check := func(when string, opts nftables.Options, want map[string][2]testnet.Fate) {
		t.Helper()
		topo.Forget(t)
		for _, c := range clients {
			ev := opts.Evaluator(c)
			for i, a := range []netip.Addr{oldAddr, newAddr} {
				pr := testnet.Probe{Proto: "tcp", Dst: a, Port: 443}
				got, err := topo.Clients[c.Name].Send(pr)
				if err != nil {
					t.Fatal(err)
				}
				if got != want[c.Name][i] {
					t.Errorf("%s: %s from %s was %v; want %v", when, pr, c.Name, got, want[c.Name][i])
				}
				evalFate := testnet.Rejected
				if ev.Eval(eval.Packet{Dst: a, Proto: eval.ProtoTCP, Port: 443}).Action == ir.Accept {
					evalFate = testnet.Accepted
				}
				if got != evalFate {
					t.Errorf("%s: %s from %s was %v; the evaluator says %v", when, pr, c.Name, got, evalFate)
				}
			}
		}
	}
	acc, rej := testnet.Accepted, testnet.Rejected
	check("before", options(oldAddr), map[string][2]testnet.Fate{"work": {acc, rej}, "guard": {rej, acc}, "plain": {acc, acc}})

	moved, _ := nftables.Lower(clients, options(newAddr))
	change, err := nftables.UpdateElements(old, moved, topo.FW.File)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := change.String(), "changed c4-guard, c4-work; 5 chains unchanged"; got != want {
		t.Errorf("UpdateElements change = %q; want %q", got, want)
	}
	check("after", options(newAddr), map[string][2]testnet.Fate{"work": {rej, acc}, "guard": {acc, rej}, "plain": {acc, acc}})
}
