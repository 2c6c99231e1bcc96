package bench

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/backends/nftables"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/internal/netnstest"
	"github.com/qfw-dev/qfw/internal/testnet"
)

// clientList returns rules rules for client i: a realistic mix of denied
// networks, allowed services and ICMP, ending with a web allow.
func clientList(i, rules int) []ir.Rule {
	out := make([]ir.Rule, 0, rules)
	for k := 0; len(out) < rules-1; k++ {
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
	last := ir.Rule{Action: ir.Accept, Match: ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ir.PortRange{First: 80, Last: 80}}}
	last.Dst.Prefix = netip.MustParsePrefix("192.0.2.1/32")
	return append(out, last)
}

func benchClients(n, rulesEach int) []nftables.Client {
	clients := make([]nftables.Client, n)
	for i := range clients {
		clients[i] = nftables.Client{
			Name:   fmt.Sprintf("client%03d", i),
			Addr4:  netip.AddrFrom4([4]byte{10, 137, byte(1 + i/250), byte(1 + i%250)}),
			Rules4: clientList(i, rulesEach),
		}
	}
	return clients
}

// agentText renders clients' lists as the stock Qubes agent lowers them:
// one nft rule per Qubes rule, in one linear chain per client, jumped to
// from the forward chain by source address (reference: the agent's
// prepare_rules). It is the baseline the benchmarks compare qfw against.
func agentText(clients []nftables.Client) []byte {
	var b bytes.Buffer
	b.WriteString("table ip qubes-firewall {}\ndelete table ip qubes-firewall\ntable ip qubes-firewall {\n")
	b.WriteString("\tset dns-addr {\n\t\ttype ipv4_addr\n\t\telements = { 10.139.1.1, 10.139.1.2 }\n\t}\n")
	b.WriteString("\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t\tct state established,related accept\n\t\tiifname != \"vif*\" accept\n\t\tjump qubes-forward\n\t}\n")
	b.WriteString("\tchain qubes-forward {\n")
	for _, c := range clients {
		fmt.Fprintf(&b, "\t\tip saddr %s jump qbs-%s\n", c.Addr4, strings.ReplaceAll(c.Addr4.String(), ".", "-"))
	}
	b.WriteString("\t}\n")
	for _, c := range clients {
		fmt.Fprintf(&b, "\tchain qbs-%s {\n", strings.ReplaceAll(c.Addr4.String(), ".", "-"))
		for _, r := range c.Rules4 {
			b.WriteString("\t\t")
			if r.Proto != ir.AnyProto {
				fmt.Fprintf(&b, "ip protocol %s ", r.Proto)
			}
			if r.Dst.Prefix.IsValid() {
				fmt.Fprintf(&b, "ip daddr %s ", r.Dst.Prefix)
			}
			if r.HasPorts {
				if r.Ports.First == r.Ports.Last {
					fmt.Fprintf(&b, "%s dport %d ", r.Proto, r.Ports.First)
				} else {
					fmt.Fprintf(&b, "%s dport %d-%d ", r.Proto, r.Ports.First, r.Ports.Last)
				}
			}
			if r.Action == ir.Accept {
				b.WriteString("accept\n")
			} else {
				b.WriteString("reject with icmp type admin-prohibited\n")
			}
		}
		b.WriteString("\t\treject with icmp type admin-prohibited\n\t}\n")
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// BenchmarkApply replaces a firewall qube's ruleset for 100 clients and
// 10,000 rules in all: qfw's table in one netlink transaction (read back
// and checked, as qfw apply does), against nft -f of the agent's linear
// ruleset for the same lists, each in a network namespace of its own
// that already holds the same ruleset.
func BenchmarkApply(b *testing.B) {
	clients := benchClients(100, 100)
	table, _ := nftables.Lower(clients, nftables.Options{DNS4: eval.QubesDNS()})
	b.Run("qfw-netlink", func(b *testing.B) {
		ns := netnstest.New(b)
		if _, err := nftables.Apply(table, ns.File); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if _, err := nftables.Apply(table, ns.File); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("agent-nft-f", func(b *testing.B) {
		ns := netnstest.New(b)
		script := agentText(clients)
		path := b.TempDir() + "/agent.nft"
		if err := os.WriteFile(path, script, 0o644); err != nil {
			b.Fatal(err)
		}
		ns.Exec(b, nil, "nft", "-f", path)
		b.ResetTimer()
		for range b.N {
			if out, err := exec.Command("ip", "netns", "exec", ns.Name, "nft", "-f", path).CombinedOutput(); err != nil {
				b.Fatalf("nft -f: %v\n%s", err, out)
			}
		}
	})
}

// BenchmarkConnRate measures new TCP connections per second through the
// firewall namespace from a client whose list has 10 or 10,000 rules, the
// connection allowed only by the last: with qfw's table, and with the
// agent's linear chain. Run with -benchtime=2000x or more.
func BenchmarkConnRate(b *testing.B) {
	for _, style := range []string{"qfw", "agent"} {
		for _, n := range []int{10, 10000} {
			b.Run(fmt.Sprintf("%s/rules=%d", style, n), func(b *testing.B) {
				clients := benchClients(1, n)
				topo := testnet.New(b, clients)
				if style == "qfw" {
					table, _ := nftables.Lower(clients, nftables.Options{DNS4: eval.QubesDNS()})
					topo.Apply(b, table)
				} else {
					topo.FW.Exec(b, agentText(clients), "nft", "-f", "-")
				}
				c := topo.Clients[clients[0].Name]
				dst := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), 80).String()
				b.ResetTimer()
				start := time.Now()
				err := c.NS.Do(func() error {
					d := net.Dialer{Timeout: time.Second}
					for range b.N {
						conn, err := d.Dial("tcp", dst)
						if err != nil {
							return err
						}
						// Close with a reset: no TIME_WAIT to run out of ports.
						conn.(*net.TCPConn).SetLinger(0)
						conn.Close()
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "conns/s")
			})
		}
	}
}
