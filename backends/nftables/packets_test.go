package nftables_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"

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
		for _, e := range policytest.Enforcers(prog, q, res, now.Unix(), nil) {
			probe := policytest.Probe{
				To: test.To, Protos: test.Protos,
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

// TestPurge opens a TCP connection and a UDP flow under rules that allow
// them, applies rules that forbid the TCP one, and purges: the TCP
// connection's tracking is gone, the UDP one's stays.
// purgeSetup gives work a table that accepts TCP 443 and UDP 53, and opens
// a connection of each through it.
func purgeSetup(t *testing.T) (clients []nftables.Client, topo *testnet.Topology, web, dns ir.Match) {
	t.Helper()
	web = ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ir.PortRange{First: 443, Last: 443}}
	dns = ir.Match{Proto: ir.UDP, HasPorts: true, Ports: ir.PortRange{First: 53, Last: 53}}
	clients = []nftables.Client{{
		Name: "work", Addr4: netip.MustParseAddr("10.137.0.11"),
		Rules4: []ir.Rule{{Action: ir.Accept, Match: web}, {Action: ir.Accept, Match: dns}},
	}}
	topo = testnet.New(t, clients)
	table, _ := nftables.Lower(clients, nftables.Options{})
	topo.Apply(t, table)
	c := topo.Clients["work"]
	for _, p := range []testnet.Probe{
		{Proto: "tcp", Dst: netip.MustParseAddr("192.0.2.1"), Port: 443},
		{Proto: "udp", Dst: netip.MustParseAddr("192.0.2.1"), Port: 53},
	} {
		if f, err := c.Send(p); err != nil || f != testnet.Accepted {
			t.Fatalf("%s: %v, %v; want accepted", p, f, err)
		}
	}
	return clients, topo, web, dns
}

func TestPurge(t *testing.T) {
	clients, topo, _, dns := purgeSetup(t)
	clients[0].Rules4 = []ir.Rule{{Action: ir.Accept, Match: dns}}
	table, _ := nftables.Lower(clients, nftables.Options{})
	topo.Apply(t, table)
	n, err := nftables.Purge(clients, nftables.Options{}, topo.FW.File)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("Purge ended %d connections; want 1, the TCP one", n)
	}
	ct, err := conntrack.Dial(&netlink.Config{NetNS: int(topo.FW.File.Fd())})
	if err != nil {
		t.Fatal(err)
	}
	defer ct.Close()
	flows, err := ct.Dump(nil)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, f := range flows {
		left = append(left, fmt.Sprintf("%d %s", f.TupleOrig.Proto.Protocol, f.TupleOrig.IP.DestinationAddress))
	}
	if want := []string{"17 192.0.2.1"}; !slices.Equal(left, want) {
		t.Errorf("connections left: %v; want %v", left, want)
	}
}

// TestPurgeBlockedName ends every connection of a family that a denied
// host name without an address in that family blocks: the new table
// rejects all of the client's IPv4 traffic, so nothing of it may go on.
func TestPurgeBlockedName(t *testing.T) {
	clients, topo, web, dns := purgeSetup(t)
	named := ir.Match{Dst: ir.Dst{Host: "v6only.example"}, Proto: ir.TCP, HasPorts: true, Ports: ir.PortRange{First: 8443, Last: 8443}}
	clients[0].Rules4 = []ir.Rule{{Action: ir.Drop, Match: named}, {Action: ir.Accept, Match: web}, {Action: ir.Accept, Match: dns}}
	opts := nftables.Options{Resolver: eval.Table(map[string][]netip.Addr{"v6only.example": {netip.MustParseAddr("2001:db8::1")}})}
	table, blocked := nftables.Lower(clients, opts)
	if len(blocked) != 1 || blocked[0].Family != 4 || blocked[0].Skipped {
		t.Fatalf("Lower blocked %+v; want work's IPv4", blocked)
	}
	topo.Apply(t, table)
	n, err := nftables.Purge(clients, opts, topo.FW.File)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("Purge ended %d connections; want 2, all of work's IPv4 ones", n)
	}
}
