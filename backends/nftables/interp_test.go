package nftables

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
)

// interpret decides p, from client, as the table's rules say: a small
// interpreter of the model, so that lowering can be checked against the
// reference evaluator on many more lists than the kernel tests can send.
func (t *Table) interpret(client netip.Addr, p eval.Packet) ir.Action {
	sets := map[string]*Set{}
	for _, s := range t.Sets {
		sets[s.Name] = s
	}
	fam, proto := p.IPFamily(), p.Proto
	chain := ""
	for _, e := range sets["clients"+map[int]string{4: "4", 6: "6"}[fam]].Elements {
		if e.First == client {
			chain = e.Jump
		}
	}
	for _, c := range t.Chains {
		if c.Name != chain {
			continue
		}
	rules:
		for _, r := range c.Rules {
			for _, x := range r.Exprs {
				switch x := x.(type) {
				case dstIn:
					if !inSet(sets[x.set], p.Dst, 0, 0) {
						continue rules
					}
				case portIn:
					if (proto != unix.IPPROTO_TCP && proto != unix.IPPROTO_UDP) || !inSet(sets[x.set], p.Dst, proto, p.Port) {
						continue rules
					}
				case icmpIn:
					if (proto != eval.ProtoICMP && proto != eval.ProtoICMPv6) || !inSet(sets[x.set], p.Dst, 0, uint16(p.ICMPType)) {
						continue rules
					}
				case l4Port:
					if proto != x.proto || p.Port != x.port {
						continue rules
					}
				case accept:
					return ir.Accept
				case reject:
					return ir.Drop
				}
			}
		}
	}
	return ir.Drop
}

func inSet(s *Set, a netip.Addr, proto uint8, port uint16) bool {
	for _, e := range s.Elements {
		if a.Compare(e.First) < 0 || a.Compare(e.Last) > 0 {
			continue
		}
		switch s.Kind {
		case PortSet:
			if e.Proto == proto && e.Low <= port && port <= e.High {
				return true
			}
		case ICMPSet:
			if e.Low <= port && port <= e.High {
				return true
			}
		default:
			return true
		}
	}
	return false
}

// TestLowerMatchesEval lowers random lists, DNS rules with destinations,
// names that do not resolve (now, or ever), ICMP types of both kinds and lists that
// alternate verdicts included, and checks every packet of a pool against
// the reference evaluator with the nftables backend's semantics.
func TestLowerMatchesEval(t *testing.T) {
	rnd := rand.New(rand.NewPCG(11, 29))
	hosts := keptNames{
		Table: eval.Table{
			"both.test":    {netip.MustParseAddr("192.0.2.77"), netip.MustParseAddr("2001:db8:77::1"), netip.MustParseAddr("10.139.1.1")},
			"v4only.test":  {netip.MustParseAddr("198.51.100.5")},
			"failing.test": {},
			"nowhere.test": {},
		},
		last: eval.Table{"failing.test": {netip.MustParseAddr("192.0.2.64"), netip.MustParseAddr("10.139.1.2"), netip.MustParseAddr("fd00::1")}},
	}
	dns := eval.QubesDNS()
	opts := Options{DNS4: dns, Resolver: hosts}
	prefixes := map[int][]string{
		4: {"192.0.2.0/24", "192.0.2.64/26", "192.0.2.77/32", "10.139.1.0/24", "10.139.1.1/32", "0.0.0.0/0", "198.51.100.0/25"},
		6: {"2001:db8::/32", "2001:db8:77::/48", "::/0", "fd00::/8"},
	}
	addrs := map[int][]string{
		4: {"192.0.2.1", "192.0.2.64", "192.0.2.77", "10.139.1.1", "10.139.1.2", "198.51.100.5", "203.0.113.1"},
		6: {"2001:db8::1", "2001:db8:77::1", "fd00::1", "2001:db9::1"},
	}
	client := Client{Name: "c", Addr4: netip.MustParseAddr("10.137.0.5"), Addr6: netip.MustParseAddr("fd09:24ef:4179::5")}
	for i := range 20000 {
		lists := map[int][]ir.Rule{}
		for _, fam := range []int{4, 6} {
			for range rnd.IntN(10) {
				var r ir.Rule
				r.Action = []ir.Action{ir.Accept, ir.Drop}[rnd.IntN(2)]
				switch rnd.IntN(6) {
				case 0:
					r.Dst.Host = []string{"both.test", "v4only.test", "failing.test", "nowhere.test"}[rnd.IntN(4)]
				case 1, 2, 3:
					r.Dst.Prefix = netip.MustParsePrefix(prefixes[fam][rnd.IntN(len(prefixes[fam]))])
				}
				r.DNS = rnd.IntN(5) == 0
				r.Proto = []ir.Proto{ir.AnyProto, ir.TCP, ir.UDP, ir.ICMP}[rnd.IntN(4)]
				switch {
				case (r.Proto == ir.TCP || r.Proto == ir.UDP) && rnd.IntN(2) == 0:
					lo := []uint16{1, 53, 54, 443}[rnd.IntN(4)]
					r.HasPorts, r.Ports = true, ir.PortRange{First: lo, Last: lo + uint16(rnd.IntN(2))*uint16(rnd.IntN(100))}
				case r.Proto == ir.ICMP && rnd.IntN(2) == 0:
					r.HasICMPType, r.ICMPType = true, []uint8{0, 3, 5, 8, 128}[rnd.IntN(5)]
				}
				lists[fam] = append(lists[fam], r)
			}
		}
		client.Rules4, client.Rules6 = lists[4], lists[6]
		table, _ := Lower([]Client{client}, opts)
		ev := opts.Evaluator(client)
		for _, fam := range []int{4, 6} {
			src := client.Addr4
			if fam == 6 {
				src = client.Addr6
			}
			for _, a := range addrs[fam] {
				for _, p := range []eval.Packet{
					{Dst: netip.MustParseAddr(a), Proto: eval.ProtoTCP, Port: 53},
					{Dst: netip.MustParseAddr(a), Proto: eval.ProtoUDP, Port: 53},
					{Dst: netip.MustParseAddr(a), Proto: eval.ProtoTCP, Port: 443},
					{Dst: netip.MustParseAddr(a), Proto: eval.ProtoUDP, Port: 100},
					{Dst: netip.MustParseAddr(a), Proto: eval.ProtoNumber(ir.ICMP, fam), ICMPType: 8},
					{Dst: netip.MustParseAddr(a), Proto: eval.ProtoNumber(ir.ICMP, fam), ICMPType: 128},
					{Dst: netip.MustParseAddr(a), Proto: 47},
				} {
					if got, want := table.interpret(src, p), ev.Eval(p).Action; got != want {
						t.Fatalf("list %d, IPv%d: %+v: table %v, evaluator %v\nlist:\n%v\ntable:\n%s", i, fam, p, got, want, lists[fam], table.Text())
					}
				}
			}
		}
	}
}

// keptNames is a resolver that remembers earlier answers in last.
type keptNames struct {
	eval.Table
	last eval.Table
}

func (k keptNames) LastGood(host string, family int) []netip.Addr {
	addrs, _ := k.last.Resolve(host, family)
	return addrs
}
