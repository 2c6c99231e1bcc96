package nftables

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/internal/netnstest"
)

// benchList returns client i's list of n rules, as bench/agentbench's
// List: the verdict changes every rule or two, over hosts, networks with
// a port, a UDP port range and ICMP, ending in an allow of TCP port port
// to 192.0.2.1.
func benchList(i, n int, port uint16) []ir.Rule {
	out := make([]ir.Rule, 0, n)
	for k := 0; len(out) < n-1; k++ {
		r := ir.Rule{Action: ir.Accept}
		switch k % 4 {
		case 0:
			r.Action = ir.Drop
			r.Dst.Prefix = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), byte(k >> 8), byte(k)}), 32)
		case 1:
			r.Dst.Prefix = netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 16 + byte(k%16), byte(k >> 8), 0}), 24)
			r.Proto, r.HasPorts, r.Ports = ir.TCP, true, ir.PortRange{First: uint16(1000 + k), Last: uint16(1000 + k)}
		case 2:
			r.Dst.Prefix = netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(k >> 8), byte(k)}), 32)
			r.Proto, r.HasPorts, r.Ports = ir.UDP, true, ir.PortRange{First: 5000, Last: 5100}
		case 3:
			r.Action = ir.Drop
			r.Dst.Prefix = netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64 + byte(i%64), byte(k >> 8), byte(k)}), 32)
			r.Proto = ir.ICMP
		}
		out = append(out, r)
	}
	return append(out, ir.Rule{Action: ir.Accept, Match: ir.Match{
		Dst: ir.Dst{Prefix: netip.MustParsePrefix("192.0.2.1/32")}, Proto: ir.TCP, HasPorts: true, Ports: ir.PortRange{First: port, Last: port},
	}})
}

func benchClients(n, rules int, port uint16) []Client {
	clients := make([]Client, n)
	for i := range clients {
		clients[i] = Client{
			Name:   fmt.Sprintf("client%03d", i),
			Addr4:  netip.AddrFrom4([4]byte{10, 137, byte(1 + i/250), byte(1 + i%250)}),
			Rules4: benchList(i, rules, port),
		}
	}
	return clients
}

var benchOptions = Options{DNS4: eval.QubesDNS()}

// BenchmarkLower lowers 1 client of 10,000 rules.
func BenchmarkLower(b *testing.B) {
	clients := benchClients(1, 10000, 80)
	for b.Loop() {
		Lower(clients, benchOptions)
	}
}

// BenchmarkUpdateClient lowers the first client's list anew and updates
// its part of the table, the last rule moving between two ports, as the
// agent does on a commit: 1 client of 10,000 rules, 100 of 100.
func BenchmarkUpdateClient(b *testing.B) {
	for _, s := range []struct {
		name           string
		clients, rules int
	}{{"1x10000", 1, 10000}, {"100x100", 100, 100}} {
		b.Run(s.name, func(b *testing.B) {
			ns := netnstest.New(b)
			all, _ := Lower(benchClients(s.clients, s.rules, 80), benchOptions)
			if _, err := Apply(all, ns.File); err != nil {
				b.Fatal(err)
			}
			k := 0
			for b.Loop() {
				k++
				one := benchClients(1, s.rules, uint16(80+k%2))
				t, _ := Lower(one, benchOptions)
				if _, err := UpdateClient(t, one[0].Name, ns.File); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkApply lowers and applies 100 clients of 100 rules.
func BenchmarkApply(b *testing.B) {
	ns := netnstest.New(b)
	k := 0
	for b.Loop() {
		k++
		t, _ := Lower(benchClients(100, 100, uint16(80+k%2)), benchOptions)
		if _, err := Apply(t, ns.File); err != nil {
			b.Fatal(err)
		}
	}
}
