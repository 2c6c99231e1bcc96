package agentbench

import (
	"net/netip"
	"testing"

	"github.com/qfw-dev/qfw/backends/nftables"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/internal/netnstest"
)

// The nftables backend's own steps, without the agent: lowering, one
// client's update and a whole apply, into a network namespace (root).

var nftOptions = nftables.Options{DNS4: eval.QubesDNS()}

// clientsAllowing returns Clients(n, rules) with the last rule of each
// list allowing TCP port port instead of 80, so that successive updates
// change one rule.
func clientsAllowing(n, rules int, port uint16) []nftables.Client {
	clients := Clients(n, rules)
	for i := range clients {
		clients[i].Rules4[len(clients[i].Rules4)-1] = Allow(netip.AddrPortFrom(Dst, port))
	}
	return clients
}

// BenchmarkLower lowers 1 client of 10,000 rules.
func BenchmarkLower(b *testing.B) {
	clients := Clients(1, 10000)
	for b.Loop() {
		nftables.Lower(clients, nftOptions)
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
			all, _ := nftables.Lower(Clients(s.clients, s.rules), nftOptions)
			if _, err := nftables.Apply(all, ns.File); err != nil {
				b.Fatal(err)
			}
			k := 0
			for b.Loop() {
				k++
				one := clientsAllowing(1, s.rules, uint16(80+k%2))
				t, _ := nftables.Lower(one, nftOptions)
				if _, err := nftables.UpdateClient(t, one[0].Name, ns.File); err != nil {
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
		t, _ := nftables.Lower(clientsAllowing(100, 100, uint16(80+k%2)), nftOptions)
		if _, err := nftables.Apply(t, ns.File); err != nil {
			b.Fatal(err)
		}
	}
}
