package nftables_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/backends/nftables"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/internal/testnet"
)

// TestDifferential applies random rule lists and sends random real packets
// through them: for every packet, what the kernel does with qfw's table
// must be what the reference evaluator, with the nftables backend's
// semantics, says. The seed is random unless QFW_SEED sets it, and is
// printed on failure.
func TestDifferential(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("QFW_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("QFW_SEED=%s: %v", s, err)
		}
	}
	rnd := rand.New(rand.NewPCG(seed, 0))
	const rounds, perRound = 42, 120 // 5,040 packets

	clients := []nftables.Client{
		{Name: "alpha", Addr4: netip.MustParseAddr("10.137.0.21"), Addr6: netip.MustParseAddr("fd09:24ef:4179::a89:15")},
		{Name: "beta", Addr4: netip.MustParseAddr("10.137.0.22"), Addr6: netip.MustParseAddr("fd09:24ef:4179::a89:16")},
		{Name: "gamma", Addr4: netip.MustParseAddr("10.138.1.23")},
	}
	topo := testnet.New(t, clients)
	opts := nftables.Options{DNS4: eval.QubesDNS(), Resolver: diffHosts}
	sent := 0
	for round := range rounds {
		for i := range clients {
			clients[i].Rules4 = randomList(rnd, 4)
			clients[i].Rules6 = randomList(rnd, 6)
		}
		table, _ := nftables.Lower(clients, opts)
		topo.Apply(t, table)
		topo.Forget(t)
		evals := make([]*eval.Evaluator, len(clients))
		for i, c := range clients {
			evals[i] = opts.Evaluator(c)
		}
		// The round's packets go out many at a time: an IPv6 TCP
		// connection learns of a reject only after about a second on
		// this kernel.
		type job struct {
			client int
			family int
			pr     testnet.Probe
			want   testnet.Fate
			got    testnet.Fate
			err    error
		}
		jobs := make([]job, perRound)
		for k := range jobs {
			i := rnd.IntN(len(clients))
			family := 4
			if clients[i].Addr6.IsValid() && rnd.IntN(3) == 0 {
				family = 6
			}
			pr, pkt := randomProbe(rnd, family)
			want := testnet.Rejected
			if evals[i].Eval(pkt).Action == ir.Accept {
				want = testnet.Accepted
			}
			jobs[k] = job{client: i, family: family, pr: pr, want: want}
		}
		var wg sync.WaitGroup
		sem := make(chan struct{}, 24)
		for k := range jobs {
			wg.Add(1)
			sem <- struct{}{}
			go func(j *job) {
				defer wg.Done()
				j.got, j.err = topo.Clients[clients[j.client].Name].Send(j.pr)
				<-sem
			}(&jobs[k])
		}
		wg.Wait()
		for _, j := range jobs {
			c := clients[j.client]
			if j.err != nil {
				t.Fatalf("seed %d: %v", seed, j.err)
			}
			if j.got != j.want {
				rules := c.Rules4
				if j.family == 6 {
					rules = c.Rules6
				}
				t.Fatalf("seed %d, round %d: %s from %s was %v; the evaluator says %v\nlist:\n%s\ntable:\n%s",
					seed, round, j.pr, c.Name, j.got, j.want, listText(rules), table.Text())
			}
			sent++
		}
	}
	t.Logf("seed %d: %d real packets, no mismatch", seed, sent)
}

// diffHosts are the names the random lists use: one in both families; one
// in IPv4 only, which an IPv6 accept rule skips and an IPv6 drop rule
// blocks the list for; one with no address, which fails now but resolved
// before (a drop rule keeps those addresses); and one that never resolved.
var diffHosts = keptTable{
	Table: eval.Table{
		"both.test":    {netip.MustParseAddr("192.0.2.77"), netip.MustParseAddr("2001:db8:77::1")},
		"v4only.test":  {netip.MustParseAddr("198.51.100.5")},
		"failing.test": {},
		"nowhere.test": {},
	},
	last: eval.Table{"failing.test": {netip.MustParseAddr("192.0.2.200"), netip.MustParseAddr("2001:db8:77::2")}},
}

// keptTable is a resolver that remembers earlier answers in last.
type keptTable struct {
	eval.Table
	last eval.Table
}

func (k keptTable) LastGood(host string, family int) []netip.Addr {
	addrs, _ := k.last.Resolve(host, family)
	return addrs
}

var diffPrefixes = map[int][]string{
	4: {"192.0.2.0/24", "192.0.2.64/26", "192.0.2.77/32", "198.51.100.0/25", "198.51.100.5/32", "10.139.1.0/24", "10.139.1.1/32", "0.0.0.0/0", "203.0.113.0/24"},
	6: {"2001:db8::/33", "2001:db8:77::/48", "2001:db8:77::1/128", "fd00::/16", "fd00:1::/32", "::/0"},
}

var diffAddrs = map[int][]string{
	4: {"192.0.2.1", "192.0.2.64", "192.0.2.77", "192.0.2.200", "198.51.100.5", "198.51.100.200", "10.139.1.1", "10.139.1.2", "10.139.1.9", "203.0.113.9"},
	6: {"2001:db8::1", "2001:db8:77::1", "2001:db8:77::2", "fd00::1", "fd00:1::1", "fd00:2::2"},
}

// randomList makes a list of one family as dom0 might write it, the kinds
// of rule the Linux agent gets wrong included.
func randomList(rnd *rand.Rand, family int) []ir.Rule {
	var out []ir.Rule
	for range rnd.IntN(8) {
		r := ir.Rule{Action: ir.Accept}
		if rnd.IntN(2) == 0 {
			r.Action = ir.Drop
		}
		switch rnd.IntN(10) {
		case 0:
			r.DNS = true
		case 1, 2:
			// any destination
		case 3:
			r.Dst.Host = []string{"both.test", "v4only.test", "failing.test", "nowhere.test"}[rnd.IntN(4)]
		default:
			r.Dst.Prefix = netip.MustParsePrefix(diffPrefixes[family][rnd.IntN(len(diffPrefixes[family]))])
		}
		switch rnd.IntN(4) {
		case 0:
			r.Proto = ir.TCP
		case 1:
			r.Proto = ir.UDP
		case 2:
			r.Proto = ir.ICMP
		}
		switch {
		case (r.Proto == ir.TCP || r.Proto == ir.UDP) && rnd.IntN(3) > 0:
			lo := []uint16{1, 53, 54, 80, 443, 1000}[rnd.IntN(6)]
			r.HasPorts, r.Ports = true, ir.PortRange{First: lo, Last: lo + uint16(rnd.IntN(3))*uint16(rnd.IntN(500))}
		case r.Proto == ir.ICMP && rnd.IntN(2) == 0:
			r.HasICMPType, r.ICMPType = true, []uint8{0, 8, 3, 128, 129, 1}[rnd.IntN(6)]
		}
		out = append(out, r)
	}
	return out
}

// randomProbe makes a real packet and the packet the evaluator sees.
func randomProbe(rnd *rand.Rand, family int) (testnet.Probe, eval.Packet) {
	dst := netip.MustParseAddr(diffAddrs[family][rnd.IntN(len(diffAddrs[family]))])
	pr := testnet.Probe{Dst: dst, Proto: []string{"tcp", "udp", "icmp"}[rnd.IntN(3)]}
	pkt := eval.Packet{Dst: dst}
	switch pr.Proto {
	case "tcp", "udp":
		pr.Port = []uint16{53, 54, 80, 443, 1000, 1234, uint16(1 + rnd.IntN(65534))}[rnd.IntN(7)]
		pkt.Proto, pkt.Port = eval.ProtoTCP, pr.Port
		if pr.Proto == "udp" {
			pkt.Proto = eval.ProtoUDP
		}
	case "icmp":
		pkt.Proto, pkt.ICMPType = eval.ProtoICMP, 8
		if family == 6 {
			pkt.Proto, pkt.ICMPType = eval.ProtoICMPv6, 128
		}
	}
	return pr, pkt
}

func listText(rules []ir.Rule) string {
	var b strings.Builder
	for i, r := range rules {
		fmt.Fprintf(&b, "  %d: %s %s\n", i, r.Action, r.Match)
	}
	return b.String()
}
