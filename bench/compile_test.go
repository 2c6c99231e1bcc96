package bench

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/load"

	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/bench/policygen"
	"github.com/qfw-dev/qfw/compiler"
	"github.com/qfw-dev/qfw/policy"
	"github.com/qfw-dev/qfw/policytest"
)

// sizes are the policies the benchmarks compile: the 1,000 qubes ×
// 20 rules and a laptop-sized 30 × 20.
var sizes = []policygen.Config{
	{Qubes: 30, Rules: 20},
	{Qubes: 1000, Rules: 20},
}

// now is the time rule expiry is judged against, fixed so that runs agree.
var now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// writePolicy writes the policy cfg describes into a fresh temporary
// directory and returns it.
func writePolicy(tb testing.TB, cfg policygen.Config) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := policygen.Write(dir, cfg); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// compile does what `qfw compile DIR` does short of writing files: load,
// compile, check each qube against the limits of Qubes, and format every
// rule line. It returns the length of the rule lines.
func compile(dir string) (int, error) {
	p, errs := policy.Load(policy.Config{Args: []string{dir}})
	if errs != nil {
		return 0, errs
	}
	res, cerrs := compiler.Compile(p, compiler.Options{Now: now})
	if cerrs != nil {
		return 0, cerrs
	}
	var b bytes.Buffer
	for _, q := range res.Program.Qubes {
		if errs := qubes.Check(q); errs != nil {
			return 0, errs[0]
		}
		for _, r := range q.Rules {
			b.WriteString(qubes.FormatRule(r))
			b.WriteByte('\n')
		}
	}
	return b.Len(), nil
}

// cueExport does in process what `cue export DIR --out json` does: load the
// package, evaluate it, require it to be concrete, and marshal it. It
// returns the JSON.
func cueExport(dir string) ([]byte, error) {
	insts := load.Instances([]string{"."}, &load.Config{Dir: dir})
	if err := insts[0].Err; err != nil {
		return nil, err
	}
	v := cuecontext.New().BuildInstance(insts[0])
	if err := v.Validate(cue.Concrete(true)); err != nil {
		return nil, err
	}
	return v.MarshalJSON()
}

func name(cfg policygen.Config) string { return fmt.Sprintf("qubes=%d", cfg.Qubes) }

// BenchmarkCompile measures `qfw compile` in process: policy.Load,
// compiler.Compile, qubes.Check and qubes.FormatRule of every rule.
func BenchmarkCompile(b *testing.B) {
	for _, cfg := range sizes {
		b.Run(name(cfg), func(b *testing.B) {
			dir := writePolicy(b, cfg)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := compile(dir); err != nil {
					b.Fatal(errors.Details(err, nil))
				}
			}
		})
	}
}

// BenchmarkLoad measures policy.Load alone, the part of BenchmarkCompile
// that evaluates CUE.
func BenchmarkLoad(b *testing.B) {
	for _, cfg := range sizes {
		b.Run(name(cfg), func(b *testing.B) {
			dir := writePolicy(b, cfg)
			b.ReportAllocs()
			for b.Loop() {
				if _, errs := policy.Load(policy.Config{Args: []string{dir}}); errs != nil {
					b.Fatal(errors.Details(errs, nil))
				}
			}
		})
	}
}

// BenchmarkCUEExport measures `cue export` of the same files in process:
// the floor that CUE evaluation sets for BenchmarkCompile.
func BenchmarkCUEExport(b *testing.B) {
	for _, cfg := range sizes {
		b.Run(name(cfg), func(b *testing.B) {
			dir := writePolicy(b, cfg)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := cueExport(dir); err != nil {
					b.Fatal(errors.Details(err, nil))
				}
			}
		})
	}
}

// TestGeneratedPolicy checks that generated policies vet without errors,
// that their tests pass, that their only warnings are the host-name ones the generator documents,
// and that cue export evaluates them without qfw.
func TestGeneratedPolicy(t *testing.T) {
	for _, cfg := range []policygen.Config{
		{Qubes: 1, Rules: policygen.ProfileRules},
		{Qubes: 30, Rules: 20},
		{Qubes: 3, Rules: policygen.MaxRules},
		{Qubes: 25, Rules: 12, QubesPerFile: 10},
	} {
		t.Run(fmt.Sprintf("qubes=%d,rules=%d", cfg.Qubes, cfg.Rules), func(t *testing.T) {
			dir := writePolicy(t, cfg)
			p, errs := policy.Load(policy.Config{Args: []string{dir}})
			if errs != nil {
				t.Fatalf("policy.Load:\n%s", errors.Details(errs, nil))
			}
			res, cerrs := compiler.Compile(p, compiler.Options{Now: now})
			if cerrs != nil {
				t.Fatalf("compiler.Compile:\n%s", errors.Details(cerrs, nil))
			}
			if got := len(p.Qubes); got != cfg.Qubes {
				t.Errorf("policy has %d qubes; want %d", got, cfg.Qubes)
			}
			for _, q := range p.Qubes {
				if got := len(q.Rules); got != cfg.Rules {
					t.Errorf("qube %s has %d rules; want %d", q.Name, got, cfg.Rules)
				}
			}
			for _, q := range res.Program.Qubes {
				for _, err := range qubes.Check(q) {
					t.Errorf("qubes.Check: %v", err)
				}
			}
			for _, w := range res.Warnings {
				if format, _ := w.Msg(); !strings.Contains(format, "is resolved by the firewall qube") {
					t.Errorf("unexpected warning: %v", w)
				}
			}
			// One for each host-name rule: every eighth own rule from
			// the fourth (2 per qube at 20 rules).
			if got, want := len(res.Warnings), cfg.Qubes*((cfg.Rules-policygen.ProfileRules+4)/8); got != want {
				t.Errorf("%d warnings; want %d, one per host-name rule", got, want)
			}
			// qfw compile and plan run the tests: they must pass.
			outcomes := policytest.Run(res.Program, now.Unix(), nil)
			if len(outcomes) == 0 {
				t.Error("the policy has no tests")
			}
			for _, o := range outcomes {
				if !o.Passed {
					t.Errorf("test %d from %s fails", o.Test.Index, o.Test.From)
				}
			}
			if _, err := cueExport(dir); err != nil {
				t.Errorf("cue export:\n%s", errors.Details(err, nil))
			}
		})
	}
}

// TestGeneratedPolicyDeterministic checks that the generator's output
// depends on its configuration alone.
func TestGeneratedPolicyDeterministic(t *testing.T) {
	cfg := policygen.Config{Qubes: 30, Rules: 20}
	a, err := policygen.Files(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := policygen.Files(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Fatalf("Files returned %d files, then %d", len(a), len(b))
	}
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(a[i].Data, b[i].Data) {
			t.Errorf("file %d differs between two calls: %s, %s", i, a[i].Name, b[i].Name)
		}
	}
}
