package agentbench

import (
	"net/netip"
	"sync"
	"testing"

	"github.com/qfw-dev/qfw/backends/nftables"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/internal/testnet"
)

// TestStockEnforces loads the stock agent's ruleset for one client of both
// families into the test network and sends real packets through it: each
// must fare as the reference evaluator, with the stock agent's semantics,
// says. The lists hold every kind of match the agent lowers.
func TestStockEnforces(t *testing.T) {
	resolver := eval.Table{"example.com": {netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("2001:db8::1")}}
	cfg := Config{DNS4: eval.QubesDNS(), Resolve: func(host string, family int) ([]netip.Addr, error) {
		addrs, _ := resolver.Resolve(host, family)
		return addrs, nil
	}}
	client := nftables.Client{
		Name:  "work",
		Addr4: netip.MustParseAddr("10.137.0.9"),
		Addr6: netip.MustParseAddr("fd09:24ef:4179::a89:9"),
		Rules4: []ir.Rule{
			rule(ir.Drop, "93.184.216.34/32", ir.TCP, 443, 443),
			{Action: ir.Accept, Match: ir.Match{Dst: ir.Dst{Host: "example.com"}, Proto: ir.TCP, HasPorts: true, Ports: ir.PortRange{First: 400, Last: 500}}},
			{Action: ir.Accept, Match: ir.Match{DNS: true}},
			rule(ir.Drop, "10.0.0.0/16", ir.AnyProto, 0, 0),
			rule(ir.Accept, "192.0.2.0/24", ir.UDP, 5000, 5100),
			{Action: ir.Accept, Match: ir.Match{Proto: ir.ICMP, HasICMPType: true, ICMPType: 8}},
			rule(ir.Accept, "203.0.113.0/24", ir.AnyProto, 0, 0),
		},
		Rules6: []ir.Rule{
			rule(ir.Accept, "2001:db8::/33", ir.TCP, 80, 80),
			{Action: ir.Accept, Match: ir.Match{Dst: ir.Dst{Host: "example.com"}, Proto: ir.UDP}},
			// No IPv6 DNS servers: matches nothing.
			{Action: ir.Accept, Match: ir.Match{DNS: true, Proto: ir.UDP}},
			{Action: ir.Accept, Match: ir.Match{Proto: ir.ICMP, HasICMPType: true, ICMPType: 128}},
			rule(ir.Drop, "fd00::/16", ir.AnyProto, 0, 0),
		},
	}
	packets := []eval.Packet{
		tcp("93.184.216.34", 443), tcp("93.184.216.34", 450), tcp("93.184.216.34", 80),
		tcp("10.139.1.1", 53), udp("10.139.1.2", 53), udp("10.139.1.1", 54),
		tcp("10.0.0.5", 22), udp("192.0.2.7", 5050), udp("192.0.2.7", 6000),
		{Dst: netip.MustParseAddr("192.168.1.1"), Proto: eval.ProtoICMP, ICMPType: 8},
		tcp("203.0.113.9", 8080), tcp("198.51.100.1", 80),
		tcp("2001:db8::5", 80), tcp("2001:db8::5", 81), udp("2001:db8::1", 9999), udp("2001:db8::2", 53),
		{Dst: netip.MustParseAddr("fd00::1"), Proto: eval.ProtoICMPv6, ICMPType: 128},
		tcp("fd00::1", 80),
	}

	topo := testnet.New(t, []nftables.Client{client})
	start := startStock(t, topo.FW, []nftables.Client{client}, cfg)
	ev := eval.New(client.Rules4, client.Rules6, eval.Options{Resolver: resolver, DNS4: eval.QubesDNS(), Semantics: eval.LinuxAgent})
	type result struct {
		probe     testnet.Probe
		got, want testnet.Fate
		err       error
	}
	results := make([]result, len(packets))
	var wg sync.WaitGroup
	for i, p := range packets {
		pr, ok := testnet.ProbeFor(p)
		if !ok {
			t.Fatalf("no probe for %+v", p)
		}
		want := testnet.Rejected
		if ev.Eval(p).Action == ir.Accept {
			want = testnet.Accepted
		}
		results[i] = result{probe: pr, want: want}
		wg.Add(1)
		go func(r *result) {
			defer wg.Done()
			r.got, r.err = topo.Clients[client.Name].Send(r.probe)
		}(&results[i])
	}
	wg.Wait()
	seen := map[testnet.Fate]int{}
	for _, r := range results {
		if r.err != nil {
			t.Errorf("%v: %v", r.probe, r.err)
		} else if r.got != r.want {
			t.Errorf("%v was %v; the evaluator says %v", r.probe, r.got, r.want)
		}
		seen[r.want]++
	}
	if seen[testnet.Accepted] < 5 || seen[testnet.Rejected] < 5 {
		t.Errorf("the packets are not mixed enough: %v", seen)
	}
	if t.Failed() {
		t.Logf("ruleset:\n%s", start)
	}
}

func rule(a ir.Action, prefix string, p ir.Proto, first, last uint16) ir.Rule {
	r := ir.Rule{Action: a, Match: ir.Match{Proto: p}}
	r.Dst.Prefix = netip.MustParsePrefix(prefix)
	if first != 0 {
		r.HasPorts, r.Ports = true, ir.PortRange{First: first, Last: last}
	}
	return r
}

func tcp(dst string, port uint16) eval.Packet {
	return eval.Packet{Dst: netip.MustParseAddr(dst), Proto: eval.ProtoTCP, Port: port}
}

func udp(dst string, port uint16) eval.Packet {
	return eval.Packet{Dst: netip.MustParseAddr(dst), Proto: eval.ProtoUDP, Port: port}
}
