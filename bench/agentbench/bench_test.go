package agentbench

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"slices"
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

// startStock loads into ns what the stock agent loads at start for
// clients, its skeleton and each client's chain and rules, and returns
// that text.
func startStock(tb testing.TB, ns *netnstest.NS, clients []nftables.Client, cfg Config) string {
	tb.Helper()
	start, err := Start(Targets(clients), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := nft(ns, start); err != nil {
		tb.Fatal(err)
	}
	return start
}

// BenchmarkReload times a full reload of a firewall qube with 100 clients
// of 100 rules each (10,000 in all), each side in a network namespace of
// its own that already holds the same ruleset:
//
//   - qfw: nftables.Lower of the lists and nftables.Apply of the table,
//     one netlink transaction, read back before and after;
//   - stock: nft -f of every client's transaction as the stock agent
//     writes it, in one text (Reload): the floor of the stock agent's
//     reload, which does not count the agent's own Python (reading
//     QubesDB, building the text).
//
// The two alternate, one reload each per iteration, so that both see about
// the same load on a shared machine; it reports the median time of each
// (qfw-ms, stock-ms) and the median of the iterations' ratios
// (qfw/stock), which leaves out the iterations in which the machine was
// busier for one than the other.
func BenchmarkReload(b *testing.B) {
	clients := Clients(100, 100)
	targets := Targets(clients)
	qns, sns := netnstest.New(b), netnstest.New(b)
	start, err := Start(targets, stockConfig)
	if err != nil {
		b.Fatal(err)
	}
	reload, err := Reload(targets, stockConfig)
	if err != nil {
		b.Fatal(err)
	}
	qfw := func() error {
		table, _ := nftables.Lower(clients, qfwOptions)
		_, err := nftables.Apply(table, qns.File)
		return err
	}
	stock := func() error { return nft(sns, reload) }
	if err := qfw(); err != nil {
		b.Fatal(err)
	}
	if err := nft(sns, start); err != nil {
		b.Fatal(err)
	}
	var tq, ts, ratios []float64
	b.ResetTimer()
	for i := range b.N {
		steps := [2]struct {
			run func() error
			t   *[]float64
		}{{qfw, &tq}, {stock, &ts}}
		if i%2 == 1 {
			steps[0], steps[1] = steps[1], steps[0]
		}
		for _, step := range steps {
			t0 := time.Now()
			if err := step.run(); err != nil {
				b.Fatal(err)
			}
			*step.t = append(*step.t, ms(time.Since(t0)))
		}
		ratios = append(ratios, tq[i]/ts[i])
	}
	b.ReportMetric(median(tq), "qfw-ms")
	b.ReportMetric(median(ts), "stock-ms")
	b.ReportMetric(median(ratios), "qfw/stock")
}

// BenchmarkReloadPerClient times the stock agent's full reload as it
// sends it when it handles every client again (SIGHUP): the transactions
// of BenchmarkReload's stock side, one nft -f each.
func BenchmarkReloadPerClient(b *testing.B) {
	targets := Targets(Clients(100, 100))
	ns := netnstest.New(b)
	start, err := Start(targets, stockConfig)
	if err != nil {
		b.Fatal(err)
	}
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
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms")
}

// BenchmarkConnRate measures new TCP connections per second from a client
// through the firewall namespace to the net namespace, through qfw's table
// and through the stock agent's ruleset, with a list of 10 rules and with
// one of 10,000, the connection allowed only by the last. Each connection
// is opened and reset at once. The two lists are in two test networks
// side by side, and the connections alternate between them in batches of
// 10, a few milliseconds each: two batches next to each other see the
// same load, so the ratio of their times is what the longer list costs,
// and the median of those ratios leaves out the moments when the shared
// machine was busier for one than the other. b.N is the number of
// connections through each list; run with -benchtime=3000x or more. It
// reports the median rates (conns/s-10, conns/s-10000) and the median of
// the batches' ratios (10000/10-%).
func BenchmarkConnRate(b *testing.B) {
	const batch = 10
	for _, ruleset := range []string{"qfw", "stock"} {
		b.Run(ruleset, func(b *testing.B) {
			var probes [2]*testnet.Client
			for i, n := range []int{10, 10000} {
				clients := Clients(1, n)
				topo := testnet.New(b, clients)
				if ruleset == "qfw" {
					table, _ := nftables.Lower(clients, qfwOptions)
					topo.Apply(b, table)
				} else {
					startStock(b, topo.FW, clients, stockConfig)
				}
				probes[i] = topo.Clients[clients[0].Name]
			}
			dst := netip.AddrPortFrom(Dst, 80)
			// The first connections wait for neighbour discovery.
			for _, p := range probes {
				if _, err := connect(p, dst, batch); err != nil {
					b.Fatal(err)
				}
			}
			var times [2][]float64 // seconds per connection, batch by batch
			var ratios []float64
			b.ResetTimer()
			for round := 0; round*batch < b.N; round++ {
				n := min(batch, b.N-round*batch)
				var t [2]time.Duration
				for k := range 2 {
					i := k ^ round%2
					d, err := connect(probes[i], dst, n)
					if err != nil {
						b.Fatal(err)
					}
					t[i] = d
					times[i] = append(times[i], d.Seconds()/float64(n))
				}
				ratios = append(ratios, float64(t[0])/float64(t[1]))
			}
			b.ReportMetric(1/median(times[0]), "conns/s-10")
			b.ReportMetric(1/median(times[1]), "conns/s-10000")
			b.ReportMetric(100*median(ratios), "10000/10-%")
		})
	}
}

// median returns the median of xs, which it sorts.
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// connect opens n TCP connections to dst from c, one after another, and
// returns the time they took.
func connect(c *testnet.Client, dst netip.AddrPort, n int) (time.Duration, error) {
	var elapsed time.Duration
	err := c.NS.Do(func() error {
		d := net.Dialer{Timeout: time.Second}
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
	return elapsed, err
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
