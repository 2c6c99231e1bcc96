package bench

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/compiler"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/policy"
	"github.com/qfw-dev/qfw/policytest"
)

// ruleList returns n rules that a packet to 203.0.113.7 tcp/443 passes
// through: drops of other /24 prefixes, tcp ports and ICMP types, ending in
// the accept that decides it.
func ruleList(n int) []ir.Rule {
	rules := make([]ir.Rule, 0, n)
	for i := 0; len(rules) < n-1; i++ {
		var m ir.Match
		switch i % 3 {
		case 0:
			m.Dst.Prefix = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
		case 1:
			m.Dst.Prefix = netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, 113, 7}), 32)
			m.Proto, m.HasPorts = ir.TCP, true
			m.Ports = ir.PortRange{First: uint16(1000 + i), Last: uint16(1000 + i)}
		case 2:
			m.Proto, m.HasICMPType, m.ICMPType = ir.ICMP, true, uint8(i)
		}
		rules = append(rules, ir.Rule{Action: ir.Drop, Match: m})
	}
	last := ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ir.PortRange{First: 443, Last: 443}}
	last.Dst.Prefix = netip.MustParsePrefix("203.0.113.0/24")
	return append(rules, ir.Rule{Action: ir.Accept, Match: last})
}

// BenchmarkEval measures the evaluator on one packet decided by the last
// rule of lists of 10 to 10,000 rules: with the index New builds
// ("index"), and walking the list ("linear", Options.Linear), the cost of
// a full scan. bench/eval.sh prints the ratios.
func BenchmarkEval(b *testing.B) {
	p := eval.Packet{Dst: netip.MustParseAddr("203.0.113.7"), Proto: eval.ProtoTCP, Port: 443}
	for _, mode := range []string{"index", "linear"} {
		for _, n := range []int{10, 100, 1000, 10000} {
			b.Run(fmt.Sprintf("%s/rules=%d", mode, n), func(b *testing.B) {
				e := eval.New(ruleList(n), nil, eval.Options{DNS4: eval.QubesDNS(), Linear: mode == "linear"})
				if r := e.Eval(p); r.Rule != n-1 || r.Action != ir.Accept {
					b.Fatalf("decided by %+v; want the last rule", r)
				}
				b.ReportAllocs()
				for b.Loop() {
					e.Eval(p)
				}
			})
		}
	}
}

// mixedList returns n rules of the shapes policies have, drawn from seed:
// prefixes of 10.0.0.0/8 with and without protocols and ports, ports to
// every address, ICMP types, host names, DNS and IPv6 prefixes, both
// actions; and a resolver for its names.
func mixedList(n int, seed uint64) ([]ir.Rule, eval.Table) {
	r := rand.New(rand.NewPCG(seed, 1))
	prefix := func() netip.Prefix {
		a := netip.AddrFrom4([4]byte{10, byte(r.IntN(16)), byte(r.IntN(256)), byte(r.IntN(256))})
		return netip.PrefixFrom(a, 16+r.IntN(17)).Masked()
	}
	ports := func() ir.PortRange {
		first := uint16(r.IntN(1024))
		return ir.PortRange{First: first, Last: first + uint16(r.IntN(3)*r.IntN(100))}
	}
	names := eval.Table{}
	rules := make([]ir.Rule, n)
	for i := range rules {
		m := &rules[i].Match
		rules[i].Action = ir.Action(1 + r.IntN(2))
		switch k := r.IntN(20); {
		case k < 8:
			m.Dst.Prefix = prefix()
		case k < 13:
			m.Dst.Prefix = prefix()
			m.Proto, m.HasPorts, m.Ports = ir.Proto(1+r.IntN(2)), true, ports()
		case k < 15:
			m.Proto, m.HasPorts, m.Ports = ir.TCP, true, ports()
		case k < 17:
			m.Proto, m.HasICMPType, m.ICMPType = ir.ICMP, true, uint8(r.IntN(16))
			if k == 16 {
				m.Dst.Prefix = prefix()
			}
		case k < 18:
			m.Dst.Host = fmt.Sprintf("host%d.example", i)
			m.Proto, m.HasPorts, m.Ports = ir.TCP, true, ir.PortRange{First: 443, Last: 443}
			names[m.Dst.Host] = []netip.Addr{prefix().Addr(), prefix().Addr()}
		case k < 19:
			m.DNS = true
		default:
			m.Dst.Prefix = netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(r.IntN(256))}), 40)
		}
	}
	return rules, names
}

// mixedPackets returns n packets to 10.0.0.0/12, of TCP, UDP and ICMP,
// drawn from seed.
func mixedPackets(n int, seed uint64) []eval.Packet {
	r := rand.New(rand.NewPCG(seed, 2))
	out := make([]eval.Packet, n)
	for i := range out {
		p := &out[i]
		p.Dst = netip.AddrFrom4([4]byte{10, byte(r.IntN(16)), byte(r.IntN(256)), byte(r.IntN(256))})
		switch r.IntN(4) {
		case 0:
			p.Proto, p.ICMPType = eval.ProtoICMP, uint8(r.IntN(16))
		case 1:
			p.Proto, p.Port = eval.ProtoUDP, uint16(r.IntN(1100))
		default:
			p.Proto, p.Port = eval.ProtoTCP, uint16(r.IntN(1100))
		}
	}
	return out
}

// BenchmarkEvalMixed measures the evaluator on lists of every shape
// (mixedList) and packets of every protocol, most of which no rule
// decides: the average case, where BenchmarkEval is the walk's worst.
func BenchmarkEvalMixed(b *testing.B) {
	packets := mixedPackets(4096, 1)
	for _, mode := range []string{"index", "linear"} {
		for _, n := range []int{10, 100, 1000, 10000} {
			b.Run(fmt.Sprintf("%s/rules=%d", mode, n), func(b *testing.B) {
				rules, names := mixedList(n, uint64(n))
				e := eval.New(ir.FamilyRules(rules, 4, 0), ir.FamilyRules(rules, 6, 0),
					eval.Options{Resolver: names, DNS4: eval.QubesDNS(), Linear: mode == "linear"})
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					e.Eval(packets[i%len(packets)])
					i++
				}
			})
		}
	}
}

// BenchmarkEvalNew measures building the evaluator for the lists of
// BenchmarkEval: with the index, and without.
func BenchmarkEvalNew(b *testing.B) {
	for _, mode := range []string{"index", "linear"} {
		for _, n := range []int{10, 100, 1000, 10000} {
			b.Run(fmt.Sprintf("%s/rules=%d", mode, n), func(b *testing.B) {
				rules := ruleList(n)
				opts := eval.Options{DNS4: eval.QubesDNS(), Linear: mode == "linear"}
				b.ReportAllocs()
				for b.Loop() {
					eval.New(rules, nil, opts)
				}
			})
		}
	}
}

// BenchmarkTestExample measures qfw test on the bundled example: loading,
// compiling and running its tests ("compile+test"), against loading and
// compiling alone ("compile"), in the same run.
func BenchmarkTestExample(b *testing.B) {
	for _, run := range []struct {
		name  string
		tests bool
	}{{"compile", false}, {"compile+test", true}} {
		b.Run(run.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, errs := policy.Load(policy.Config{Args: []string{"../examples/laptop"}})
				if errs != nil {
					b.Fatal(errs)
				}
				res, err := compiler.Compile(p, compiler.Options{Now: time.Unix(1e9, 0)})
				if err != nil {
					b.Fatal(err)
				}
				if run.tests {
					for _, o := range policytest.Run(res.Program, 1e9, nil) {
						if !o.Passed {
							b.Fatalf("test %d failed", o.Test.Index)
						}
					}
				}
			}
		})
	}
}
