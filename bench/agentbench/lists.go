package agentbench

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/qfw-dev/qfw/backends/nftables"
	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/compiler/ir"
)

// List returns the IPv4 list of n rules of client i that the benchmarks
// use: denied hosts, allowed services on networks, a UDP port range,
// denied ICMP to hosts, in turn, and last an allow of TCP port 80 to
// 192.0.2.1, so that the connection the benchmarks open is decided by the
// last rule. The verdict changes every rule or two, as it does in lists
// written by hand, which keeps qfw from merging many rules into a step.
func List(i, n int) []ir.Rule {
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
	return append(out, Allow(netip.AddrPortFrom(Dst, 80)))
}

// Dst is the destination of the connections the benchmarks open.
var Dst = netip.AddrFrom4([4]byte{192, 0, 2, 1})

// Allow returns the rule that accepts TCP to dst.
func Allow(dst netip.AddrPort) ir.Rule {
	r := ir.Rule{Action: ir.Accept, Match: ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ir.PortRange{First: dst.Port(), Last: dst.Port()}}}
	r.Dst.Prefix = netip.PrefixFrom(dst.Addr(), dst.Addr().BitLen())
	return r
}

// Clients returns n clients, client000 at 10.137.1.1 and so on, each with
// its List of rules rules.
func Clients(n, rules int) []nftables.Client {
	clients := make([]nftables.Client, n)
	for i := range clients {
		clients[i] = nftables.Client{
			Name:   fmt.Sprintf("client%03d", i),
			Addr4:  netip.AddrFrom4([4]byte{10, 137, byte(1 + i/250), byte(1 + i%250)}),
			Rules4: List(i, rules),
		}
	}
	return clients
}

// Targets returns what the stock agent reads for clients: for each client
// and each family it has an address for, the entries dom0 writes.
func Targets(clients []nftables.Client) []Target {
	var out []Target
	for _, c := range clients {
		for _, fam := range []struct {
			addr  netip.Addr
			rules []ir.Rule
		}{{c.Addr4, c.Rules4}, {c.Addr6, c.Rules6}} {
			if fam.addr.IsValid() {
				out = append(out, Target{Addr: fam.addr, Entries: Written(fam.addr, fam.rules)})
			}
		}
	}
	return out
}

// Written returns the entries under /qubes-firewall/<addr>/ after dom0
// publishes rules for addr, keyed by the last element of their paths.
func Written(addr netip.Addr, rules []ir.Rule) map[string]string {
	entries := map[string]string{}
	dir := ir.QubesDBDir(addr) + "/"
	for _, e := range qubes.Entries(addr, rules, 0) {
		switch key, ok := strings.CutPrefix(e.Path, dir); {
		case e.Op == qubes.Remove:
			clear(entries)
		case ok:
			entries[key] = e.Value
		}
	}
	return entries
}
