package agentbench

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/backends/nftables"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/internal/netnstest"
	"github.com/qfw-dev/qfw/internal/testnet"
)

// The firewall qube of the benchmarks has Qubes' virtual DNS servers, as
// sys-firewall does.
var (
	qfwOptions  = nftables.Options{DNS4: eval.QubesDNS()}
	stockConfig = Config{DNS4: eval.QubesDNS()}
)

// nft runs nft -f with text on its standard input inside ns, as the agent
// does (nft -f /dev/stdin). The command starts from a thread inside ns, so
// no ip netns exec adds its own start-up to the time.
func nft(ns *netnstest.NS, text string) error {
	return ns.Do(func() error {
		cmd := exec.Command("nft", "-f", "/dev/stdin")
		cmd.Stdin = strings.NewReader(text)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("nft -f: %v\n%s", err, out)
		}
		return nil
	})
}

// BenchmarkReload times a full reload of a firewall qube with 100 clients
// of 100 rules each (10,000 in all), each in a network namespace of its
// own that already holds the same ruleset:
//
//   - qfw: nftables.Lower of the lists and nftables.Apply of the table,
//     one netlink transaction, read back before and after;
//   - stock: nft -f of every client's transaction as the stock agent
//     writes it, in one text: the floor of the stock agent's reload, which
//     does not count the agent's own Python (reading QubesDB, building the
//     text);
//   - stock-per-client: the same transactions, one nft -f each, as the
//     stock agent sends them when it handles every client again (SIGHUP).
func BenchmarkReload(b *testing.B) {
	clients := Clients(100, 100)
	targets := Targets(clients)
	b.Run("qfw", func(b *testing.B) {
		ns := netnstest.New(b)
		table, _ := nftables.Lower(clients, qfwOptions)
		if _, err := nftables.Apply(table, ns.File); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			table, _ := nftables.Lower(clients, qfwOptions)
			if _, err := nftables.Apply(table, ns.File); err != nil {
				b.Fatal(err)
			}
		}
	})
	start, err := Start(targets, stockConfig)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("stock", func(b *testing.B) {
		ns := netnstest.New(b)
		reload, err := Reload(targets, stockConfig)
		if err != nil {
			b.Fatal(err)
		}
		if err := nft(ns, start); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if err := nft(ns, reload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stock-per-client", func(b *testing.B) {
		ns := netnstest.New(b)
		texts := make([]string, len(targets))
		for i, t := range targets {
			if texts[i], err = Rules(t, stockConfig); err != nil {
				b.Fatal(err)
			}
		}
		if err := nft(ns, start); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			for _, text := range texts {
				if err := nft(ns, text); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkConnRate measures new TCP connections per second from one
// client through the firewall namespace to the net namespace, the client's
// list holding 10 or 10,000 rules and the connection allowed only by the
// last: through qfw's table, and through the stock agent's ruleset. Each
// connection is opened and reset at once. Run with -benchtime=3000x or
// more; the rate is the conns/s metric.
func BenchmarkConnRate(b *testing.B) {
	for _, ruleset := range []string{"qfw", "stock"} {
		for _, n := range []int{10, 10000} {
			b.Run(fmt.Sprintf("%s/rules=%d", ruleset, n), func(b *testing.B) {
				clients := Clients(1, n)
				topo := testnet.New(b, clients)
				if ruleset == "qfw" {
					table, _ := nftables.Lower(clients, qfwOptions)
					topo.Apply(b, table)
				} else {
					start, err := Start(Targets(clients), stockConfig)
					if err != nil {
						b.Fatal(err)
					}
					if err := nft(topo.FW, start); err != nil {
						b.Fatal(err)
					}
				}
				rate, err := connRate(topo.Clients[clients[0].Name], netip.AddrPortFrom(Dst, 80), b.N, b.ResetTimer)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(rate, "conns/s")
			})
		}
	}
}

// connRate opens n TCP connections to dst from c, one after another, and
// returns how many it opened per second. It calls started once it is
// ready to start.
func connRate(c *testnet.Client, dst netip.AddrPort, n int, started func()) (float64, error) {
	var elapsed time.Duration
	err := c.NS.Do(func() error {
		d := net.Dialer{Timeout: time.Second}
		started()
		t0 := time.Now()
		for range n {
			conn, err := d.Dial("tcp", dst.String())
			if err != nil {
				return err
			}
			// Close with a reset: no TIME_WAIT to run out of ports.
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		}
		elapsed = time.Since(t0)
		return nil
	})
	return float64(n) / elapsed.Seconds(), err
}
