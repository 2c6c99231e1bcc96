package bench

import (
	"fmt"
	"strings"
	"testing"

	"cuelang.org/go/cue/errors"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/backends/nftables"
	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/bench/policygen"
	"github.com/qfw-dev/qfw/compiler"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/policy"
)

// bigSizes are the destination counts of the one-rule policies.
var bigSizes = []int{1000, 10000, 100000}

// bigPolicy loads and compiles the policy of policygen.BigRule(n), written
// into a fresh temporary directory; it returns the directory too.
func bigPolicy(tb testing.TB, n int) (string, *policy.Policy, *compiler.Result) {
	tb.Helper()
	dir := tb.TempDir()
	if err := policygen.WriteBigRule(dir, n); err != nil {
		tb.Fatal(err)
	}
	p, errs := policy.Load(policy.Config{Args: []string{dir}})
	if errs != nil {
		tb.Fatal(errors.Details(errs, nil))
	}
	res, cerrs := compiler.Compile(p, compiler.Options{Now: now})
	if cerrs != nil {
		tb.Fatal(errors.Details(cerrs, nil))
	}
	return dir, p, res
}

func bigQube(tb testing.TB, prog *ir.Program, name string) *ir.Qube {
	for i := range prog.Qubes {
		if prog.Qubes[i].Name == name {
			return &prog.Qubes[i]
		}
	}
	tb.Fatalf("no qube %s", name)
	return nil
}

func bigFirewall(tb testing.TB, prog *ir.Program, name string) ir.Firewall {
	for _, fw := range prog.Firewalls {
		if fw.Name == name {
			return fw
		}
	}
	tb.Fatalf("no firewall %s", name)
	return ir.Firewall{}
}

// BenchmarkBigRule measures each step of vet and compile on a policy whose
// three qubes each have one rule of N destinations (policygen.BigRule),
// reporting the time per destination (ns/dst): near-linear steps keep it
// about the same from 1,000 to 100,000.
//
//   - load: policy.Load, CUE evaluation and decoding;
//   - compile: compiler.Compile, parsing and expanding the destinations
//     and the coverage analysis;
//   - check: qubes.Check of every qube, the limits of Qubes (refused above
//     about 2,000 destinations);
//   - format: qubes.Payload of every qube, its admin.vm.firewall.Set
//     request, and qubes.Entries, its QubesDB entries;
//   - nftables: the table of the nftables firewall qube, lowered and
//     rendered as text;
//   - mirage: mirage.Reorder and mirage.Lower of the unikernel's client.
func BenchmarkBigRule(b *testing.B) {
	for _, n := range bigSizes {
		b.Run(fmt.Sprintf("dsts=%d", n), func(b *testing.B) { benchmarkBigRule(b, n) })
	}
}

func benchmarkBigRule(b *testing.B, n int) {
	{
		dir, p, res := bigPolicy(b, n)
		prog := res.Program
		perDst := func(b *testing.B) {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/dst")
		}
		b.Run("load", func(b *testing.B) {
			for b.Loop() {
				if _, errs := policy.Load(policy.Config{Args: []string{dir}}); errs != nil {
					b.Fatal(errors.Details(errs, nil))
				}
			}
			perDst(b)
		})
		b.Run("compile", func(b *testing.B) {
			for b.Loop() {
				if _, errs := compiler.Compile(p, compiler.Options{Now: now}); errs != nil {
					b.Fatal(errors.Details(errs, nil))
				}
			}
			perDst(b)
		})
		b.Run("check", func(b *testing.B) {
			for b.Loop() {
				for _, q := range prog.Qubes {
					qubes.Check(q)
				}
			}
			perDst(b)
		})
		b.Run("format", func(b *testing.B) {
			for b.Loop() {
				for _, q := range prog.Qubes {
					qubes.Payload(q.Rules)
					qubes.Entries(q.IP, q.Rules, now.Unix())
				}
			}
			perDst(b)
		})
		b.Run("nftables", func(b *testing.B) {
			fw := bigFirewall(b, prog, "sys-nft")
			opts := nftables.DefaultOptions(fw)
			opts.Resolver = eval.Table(prog.Resolve)
			clients := nftables.Clients(prog, fw.Name, now.Unix())
			for b.Loop() {
				t, blocked := nftables.Lower(clients, opts)
				if len(blocked) > 0 {
					b.Fatalf("blocked: %v", blocked)
				}
				t.Text()
			}
			perDst(b)
		})
		b.Run("mirage", func(b *testing.B) {
			q := bigQube(b, prog, "big-mirage")
			rel, err := mirage.LookupRelease(bigFirewall(b, prog, "mirage-fw").MirageVersion)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				rules, err := mirage.Reorder(q.Rules)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := mirage.Lower(q.IP, rules, rel, now.Unix()); err != nil {
					b.Fatal(err)
				}
			}
			perDst(b)
		})
	}
}

// TestBigRulePolicy checks the one-rule policy the benchmark compiles: at
// 1,000 destinations it vets without errors, every backend takes it, and
// its only warnings are about host names.
func TestBigRulePolicy(t *testing.T) {
	_, _, res := bigPolicy(t, 1000)
	prog := res.Program
	// Each of the four host names, for the two qubes whose firewall
	// qubes resolve names themselves (the stock agent and qfw's nftables
	// backend).
	if len(res.Warnings) != 8 {
		t.Errorf("%d warnings; want 8, about host names", len(res.Warnings))
	}
	for _, w := range res.Warnings {
		if !strings.Contains(w.Error(), ".example.net is resolved by the firewall qube") {
			t.Errorf("warning %v; want one about a host name", w)
		}
	}
	if len(prog.Qubes) != 3 {
		t.Errorf("%d qubes; want 3", len(prog.Qubes))
	}
	for _, q := range prog.Qubes {
		for _, err := range qubes.Check(q) {
			t.Errorf("qubes.Check: %v", err)
		}
		// 603 of the 1,000 destinations are kept (the others repeat
		// one or are inside a prefix of the rule), and the deny of
		// everything follows them.
		if got, want := len(q.Rules), 604; got != want {
			t.Errorf("qube %s has %d rules; want %d", q.Name, got, want)
		}
	}
	fw := bigFirewall(t, prog, "sys-nft")
	opts := nftables.DefaultOptions(fw)
	opts.Resolver = eval.Table(prog.Resolve)
	if _, blocked := nftables.Lower(nftables.Clients(prog, fw.Name, now.Unix()), opts); len(blocked) > 0 {
		t.Errorf("nftables.Lower: blocked %v", blocked)
	}
	q := bigQube(t, prog, "big-mirage")
	rules, err := mirage.Reorder(q.Rules)
	if err != nil {
		t.Fatalf("mirage.Reorder: %v", err)
	}
	rel, err := mirage.LookupRelease(bigFirewall(t, prog, "mirage-fw").MirageVersion)
	if err != nil {
		t.Fatal(err)
	}
	l, err := mirage.Lower(q.IP, rules, rel, now.Unix())
	if err != nil {
		t.Fatalf("mirage.Lower: %v", err)
	}
	for _, d := range l.Diagnostics {
		if d.Severity != mirage.Warning {
			t.Errorf("mirage.Lower: %v", &d)
		}
	}
}
