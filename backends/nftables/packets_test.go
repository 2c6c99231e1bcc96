package nftables_test

import (
	"testing"
	"time"

	"github.com/qfw-dev/qfw/backends/nftables"
	"github.com/qfw-dev/qfw/compiler"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/internal/testnet"
	"github.com/qfw-dev/qfw/policy"
	"github.com/qfw-dev/qfw/policytest"
)

// TestExampleOnRealPackets applies the bundled example's table for
// sys-firewall in a firewall namespace and sends, from each client's
// namespace, the real TCP connections, UDP datagrams and pings that the
// policy's own tests stand for: every one must meet the test's
// expectation, a drop as an immediate reject (ICMP admin-prohibited),
// never a silence.
func TestExampleOnRealPackets(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	p, errs := policy.Load(policy.Config{Args: []string{"../../examples/laptop"}})
	if errs != nil {
		t.Fatal(errs)
	}
	res, cerrs := compiler.Compile(p, compiler.Options{Now: now})
	if cerrs != nil {
		t.Fatal(cerrs)
	}
	prog := res.Program
	var fw ir.Firewall
	for _, f := range prog.Firewalls {
		if f.Name == "sys-firewall" {
			fw = f
		}
	}
	if fw.Backend != ir.Nftables {
		t.Fatalf("the example's sys-firewall has backend %s; want nftables", fw.Backend)
	}
	resolver := eval.Table(prog.Resolve)
	opts := nftables.DefaultOptions(fw)
	opts.Resolver = resolver
	clients := nftables.Clients(prog, fw.Name, now.Unix())
	table, blocked := nftables.Lower(clients, opts)
	if blocked != nil {
		t.Fatalf("blocked: %+v", blocked)
	}
	topo := testnet.New(t, clients)
	topo.Apply(t, table)

	sent := 0
	for i := range prog.Tests {
		test := &prog.Tests[i]
		c := topo.Clients[test.From]
		if c == nil {
			continue // not a client of sys-firewall
		}
		var q *ir.Qube
		for k := range prog.Qubes {
			if prog.Qubes[k].Name == test.From {
				q = &prog.Qubes[k]
			}
		}
		res := eval.Table(prog.Resolve)
		if len(test.Addresses) > 0 {
			res = eval.Table{test.To.Host: test.Addresses}
		}
		for _, e := range policytest.Enforcers(prog, q, res, now.Unix()) {
			probe := policytest.Probe{
				To: test.To, Addresses: test.Addresses, Protos: test.Protos,
				HasPort: test.HasPort, Port: test.Port, HasICMPType: test.HasICMPType, ICMPType: test.ICMPType, ICMPv6: test.ICMPv6,
			}
			for _, pkt := range e.Packets(probe, res) {
				pr, ok := testnet.ProbeFor(pkt)
				if !ok {
					continue
				}
				want := testnet.Rejected
				if test.Expect == ir.Accept {
					want = testnet.Accepted
				}
				if r := e.Eval(pkt); r.Action != test.Expect {
					t.Errorf("test %d: the evaluator gives %v to %s; the test expects %v", test.Index, r.Action, pr, test.Expect)
				}
				got, err := c.Send(pr)
				if err != nil {
					t.Fatalf("test %d, %s from %s: %v", test.Index, pr, test.From, err)
				}
				if got != want {
					t.Errorf("test %d: %s from %s was %v; want %v", test.Index, pr, test.From, got, want)
				}
				sent++
			}
		}
	}
	if sent < 20 {
		t.Errorf("only %d real packets sent; the example's tests should give more", sent)
	}
	t.Logf("%d real packets matched the example's tests", sent)
}
