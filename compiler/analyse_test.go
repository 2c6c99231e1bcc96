package compiler

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
)

// The pools the random lists draw from, and the packets that try them: the
// first and last address of every prefix and one past, the DNS servers a
// firewall qube may have, and every port and ICMP type at which a rule's
// range starts or ends.
var (
	poolPrefixes = []string{
		"0.0.0.0/0", "10.0.0.0/8", "10.139.1.0/24", "10.139.1.1/32", "10.139.1.2/32",
		"192.0.2.0/24", "::/0", "2001:db8::/32",
	}
	poolServers = []string{"10.139.1.1", "10.139.1.2", "10.139.1.3", "192.0.2.53", "2001:db8::53", "fd00::53"}
	poolAddrs   = []string{
		"0.0.0.0", "9.255.255.255", "10.0.0.0", "10.139.0.255", "10.139.1.0", "10.139.1.1",
		"10.139.1.2", "10.139.1.3", "10.255.255.255", "11.0.0.0", "192.0.1.255", "192.0.2.0",
		"192.0.2.53", "192.0.3.0", "255.255.255.255",
		"::", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::", "2001:db8::53", "2001:db9::", "fd00::53",
	}
	poolPorts = []ir.PortRange{{First: 53, Last: 53}, {First: 1, Last: 1024}, {First: 54, Last: 100}, {First: 80, Last: 80}}
	tryPorts  = []uint16{0, 1, 52, 53, 54, 79, 80, 81, 100, 101, 1024, 1025, 65535}
	tryTypes  = []uint8{0, 1, 7, 8, 9, 255}
	poolHosts = []string{"a.example", "b.example"}
)

// A reading of the DNS target: what the analysis is told, and what the
// evaluator is, for one firewall qube.
type dnsCase struct {
	name string
	dns  DNS
	sem  eval.Semantics
	// random says the servers' addresses are not known to the analysis:
	// the evaluator gets random ones.
	random bool
}

var dnsCases = []dnsCase{
	{name: "agent with a netvm", dns: QubesDNS(), sem: eval.LinuxAgent},
	{name: "agent without a netvm", dns: DNS{}, sem: eval.LinuxAgent, random: true},
	{name: "nftables", dns: DNS{Semantics: eval.Nftables}, sem: eval.Nftables, random: true},
	{name: "mirage", dns: DNS{Servers: eval.QubesDNS(), Semantics: eval.Mirage}, sem: eval.Mirage},
}

// TestAnalysisAgreesWithEvaluator checks the coverage analysis against the
// reference evaluator on random small lists, DNS rules among them: no rule
// the analysis finds covered (shadowed or redundant) decides any packet.
func TestAnalysisAgreesWithEvaluator(t *testing.T) {
	for _, dc := range dnsCases {
		t.Run(dc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(len(dc.name))))
			covered, dnsCovered := 0, 0
			for range 3000 {
				rules := randomRules(rng, dc.sem)
				boxes, coverers := ruleBoxes(rules, dc.dns)
				var isCovered []bool
				for i := range rules {
					_, ok := cover(boxes[i], coverers[:i])
					isCovered = append(isCovered, ok)
					if ok {
						covered++
						if rules[i].DNS {
							dnsCovered++
						}
					}
				}
				opts := eval.Options{Semantics: dc.sem, Resolver: randomTable(rng), DNS4: dc.dns.Servers}
				if dc.random {
					opts.DNS4, opts.DNS6 = randomServers(rng)
				}
				checkDeciders(t, rules, isCovered, opts)
				if t.Failed() {
					return
				}
			}
			// The property holds trivially if nothing is ever covered.
			if covered < 1000 || dnsCovered < 100 {
				t.Errorf("only %d rules covered, %d of them DNS rules: the lists are too tame", covered, dnsCovered)
			}
		})
	}
}

// checkDeciders evaluates every packet of the pools against rules, read as
// a firewall qube with opts reads them, and fails if a covered rule
// decides one.
func checkDeciders(t *testing.T, rules []ir.Rule, isCovered []bool, opts eval.Options) {
	t.Helper()
	var lists [2][]ir.Rule
	var index [2][]int // a family list's rule's place in rules
	for fi, family := range []int{4, 6} {
		if family == 6 && opts.Semantics == eval.Mirage {
			continue // the unikernel reads no IPv6 list
		}
		for i, r := range rules {
			if ir.InFamilyList(r, family, 0) {
				lists[fi] = append(lists[fi], r)
				index[fi] = append(index[fi], i)
			}
		}
	}
	e := eval.New(lists[0], lists[1], opts)
	try := func(p eval.Packet) {
		res := e.Eval(p)
		if res.Rule < 0 {
			return
		}
		i := index[p.IPFamily()/6][res.Rule]
		if isCovered[i] {
			t.Errorf("rule %d, %s %s, is covered, but decides %v proto %d port %d type %d (DNS %v %v)\nlist:\n%s",
				i, rules[i].Action, rules[i].Match, p.Dst, p.Proto, p.Port, p.ICMPType, opts.DNS4, opts.DNS6, listText(rules))
		}
	}
	for _, a := range poolAddrs {
		p := eval.Packet{Dst: netip.MustParseAddr(a)}
		for _, proto := range []uint8{eval.ProtoTCP, eval.ProtoUDP} {
			p.Proto = proto
			for _, port := range tryPorts {
				p.Port = port
				try(p)
			}
		}
		p.Port, p.Proto = 0, eval.ProtoICMP
		if p.Dst.Is6() {
			p.Proto = eval.ProtoICMPv6
		}
		for _, typ := range tryTypes {
			p.ICMPType = typ
			try(p)
		}
		p.ICMPType, p.Proto = 0, 47 // GRE, for the other protocols
		try(p)
	}
}

func listText(rules []ir.Rule) string {
	s := ""
	for _, r := range rules {
		s += "  " + r.Action.String() + " " + r.Match.String() + "\n"
	}
	return s
}

// randomRules returns a list of 1 to 6 rules, about a third of them DNS
// rules, in the forms the compiler writes for sem and, for DNS rules, in
// those another tool could.
func randomRules(rng *rand.Rand, sem eval.Semantics) []ir.Rule {
	rules := make([]ir.Rule, 1+rng.IntN(6))
	for i := range rules {
		r := &rules[i]
		r.Action = ir.Accept
		if rng.IntN(2) == 0 {
			r.Action = ir.Drop
		}
		if rng.IntN(8) == 0 {
			r.Expire = 1 << 40 // later than the evaluation
		}
		r.Proto = []ir.Proto{ir.AnyProto, ir.AnyProto, ir.TCP, ir.UDP, ir.ICMP}[rng.IntN(5)]
		switch {
		case (r.Proto == ir.TCP || r.Proto == ir.UDP) && rng.IntN(2) == 0:
			r.HasPorts, r.Ports = true, poolPorts[rng.IntN(len(poolPorts))]
		case r.Proto == ir.ICMP && rng.IntN(2) == 0:
			r.HasICMPType, r.ICMPType = true, []uint8{0, 8}[rng.IntN(2)]
		}
		if rng.IntN(3) == 0 {
			r.DNS = true
			r.HasICMPType = false
			if rng.IntN(3) != 0 {
				// As the compiler writes it: the DNS target alone.
				continue
			}
		}
		switch n := rng.IntN(len(poolPrefixes) + len(poolHosts) + 2); {
		case n < len(poolPrefixes):
			r.Dst.Prefix = netip.MustParsePrefix(poolPrefixes[n])
		case n < len(poolPrefixes)+len(poolHosts) && !r.HasICMPType:
			r.Dst.Host = poolHosts[n-len(poolPrefixes)]
		}
		if r.HasICMPType && r.Dst.Prefix.Bits() == 0 && sem == eval.Nftables {
			// The compiler keeps an ICMP type to one family for the
			// clients of the nftables backend, which reads a type for
			// both as its ICMPv6 counterpart in IPv6.
			r.Dst.Prefix = netip.MustParsePrefix("0.0.0.0/0")
		}
	}
	return rules
}

// randomTable resolves each host name to a few addresses of the pool, or
// to none.
func randomTable(rng *rand.Rand) eval.Table {
	t := eval.Table{}
	for _, h := range poolHosts {
		var addrs []netip.Addr
		for range rng.IntN(4) {
			addrs = append(addrs, netip.MustParseAddr(poolAddrs[rng.IntN(len(poolAddrs))]))
		}
		t[h] = addrs
	}
	return t
}

// randomServers returns up to two DNS servers per family from the pool.
func randomServers(rng *rand.Rand) (dns4, dns6 []netip.Addr) {
	for range 1 + rng.IntN(3) {
		a := netip.MustParseAddr(poolServers[rng.IntN(len(poolServers))])
		if a.Is4() {
			dns4 = append(dns4, a)
		} else {
			dns6 = append(dns6, a)
		}
	}
	return dns4, dns6
}
