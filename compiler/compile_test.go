package compiler_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cuelang.org/go/cue/errors"
	"golang.org/x/tools/txtar"

	"github.com/qfw-dev/qfw/compiler"
	"github.com/qfw-dev/qfw/policy"
)

// TestGolden compiles each testdata/*.txtar archive: its files other than
// out/* are the policy and inventory; out/rules, out/warnings (each with
// its kind), out/acknowledged (the warnings the rules acknowledge) and
// out/errors hold what the compiler must produce. QFW_UPDATE=1 rewrites
// them.
func TestGolden(t *testing.T) {
	archives, err := filepath.Glob("testdata/*.txtar")
	if err != nil || len(archives) == 0 {
		t.Fatalf("no archives: %v", err)
	}
	for _, path := range archives {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txtar"), func(t *testing.T) {
			runGolden(t, path)
		})
	}
}

func runGolden(t *testing.T, path string) {
	ar, err := txtar.ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range ar.Files {
		if strings.HasPrefix(f.Name, "out/") {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string][]byte{}
	p, errs := policy.Load(policy.Config{Args: []string{dir}})
	var all []errors.Error
	all = append(all, errors.Errors(errs)...)
	if p != nil {
		res, cerrs := compiler.Compile(p, compiler.Options{Now: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)})
		all = append(all, errors.Errors(cerrs)...)
		got["out/warnings"] = renderWarnings(dir, res.Warnings)
		got["out/acknowledged"] = renderWarnings(dir, res.Acknowledged)
		got["out/rules"] = renderProgram(res)
	}
	got["out/errors"] = render(dir, all)

	update := os.Getenv("QFW_UPDATE") != ""
	changed := false
	for name, data := range got {
		idx := -1
		for i, f := range ar.Files {
			if f.Name == name {
				idx = i
			}
		}
		switch {
		case idx >= 0 && bytes.Equal(ar.Files[idx].Data, data):
		case update && idx >= 0:
			ar.Files[idx].Data, changed = data, true
		case update && len(data) > 0:
			ar.Files, changed = append(ar.Files, txtar.File{Name: name, Data: data}), true
		case idx < 0 && len(data) == 0:
		case idx < 0:
			t.Errorf("%s: missing section; got:\n%s", name, data)
		default:
			t.Errorf("%s differs.\ngot:\n%s\nwant:\n%s", name, data, ar.Files[idx].Data)
		}
	}
	// A section the run did not produce, such as rules when the policy
	// does not load, must not stand in the archive unchecked.
	for _, f := range ar.Files {
		if _, ok := got[f.Name]; strings.HasPrefix(f.Name, "out/") && !ok {
			t.Errorf("%s: the archive holds it, but the run produced none", f.Name)
		}
	}
	if changed {
		if err := os.WriteFile(path, txtar.Format(ar), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// render prints diagnostics one per line with positions relative to dir,
// and the further positions a diagnostic is about indented below it.
func render(dir string, diags []errors.Error) []byte {
	var b bytes.Buffer
	for _, d := range diags {
		fmt.Fprintln(&b, strings.ReplaceAll(d.Error(), dir+string(filepath.Separator), ""))
		for _, p := range d.InputPositions() {
			fmt.Fprintf(&b, "    %s\n", strings.TrimPrefix(p.String(), dir+string(filepath.Separator)))
		}
	}
	return b.Bytes()
}

// renderWarnings is render for warnings, each line led by the warning's
// kind in brackets, which every warning must have.
func renderWarnings(dir string, warnings []errors.Error) []byte {
	var b bytes.Buffer
	for _, w := range warnings {
		k := policy.KindOf(w)
		if k == "" {
			k = "NO KIND"
		}
		fmt.Fprintf(&b, "[%s] %s", k, render(dir, []errors.Error{w}))
	}
	return b.Bytes()
}

// renderProgram prints each qube's rules in a form made for review: verdict,
// match, expiry and comment, and the policy rule with its line.
func renderProgram(res *compiler.Result) []byte {
	var b bytes.Buffer
	for _, q := range res.Program.Qubes {
		fmt.Fprintf(&b, "%s netvm=%q network=%v\n", q.Name, q.Netvm, q.Network)
		for _, r := range q.Rules {
			fmt.Fprintf(&b, "  %s %s", r.Action, r.Match)
			if r.Expire != 0 {
				fmt.Fprintf(&b, " expire=%d", r.Expire)
			}
			fmt.Fprintf(&b, " comment=%q", r.Comment)
			if r.Origin.Name != "" {
				fmt.Fprintf(&b, " from %s at line %d", r.Origin, r.Origin.Pos.Line())
			}
			b.WriteByte('\n')
		}
	}
	for _, f := range res.Program.Firewalls {
		fmt.Fprintf(&b, "firewall %s backend=%s clients=%v\n", f.Name, f.Backend, f.Clients)
	}
	return b.Bytes()
}
