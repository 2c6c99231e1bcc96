package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/qfw-dev/qfw/backends/qubes"
)

// refused reports whether err refuses a file, failing t unless it says
// where in the file, name, it is.
func refused(t *testing.T, name string, err error) bool {
	t.Helper()
	if err != nil && !strings.HasPrefix(err.Error(), name+":") {
		t.Fatalf("error without a position: %v", err)
	}
	return err != nil
}

// FuzzParsePlan reads saved plans: a plan that reads is one whose every
// rule qfw would write, whose edits keep and add exactly the rules it
// sends, and whose summary is its edits'; it saves again to a file that
// reads back to the same plan.
func FuzzParsePlan(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parsePlan("plan.json", data)
		if refused(t, "plan.json", err) {
			return
		}
		if p.Summary != p.Summarise() {
			t.Fatalf("summary %+v; the plan counts %+v", p.Summary, p.Summarise())
		}
		for _, q := range p.Qubes {
			var shown []string
			for _, e := range q.Edits {
				if e.Op != qubes.RemoveRule.Symbol() {
					shown = append(shown, e.Line)
				}
			}
			if !slices.Equal(shown, q.Rules) && len(shown)+len(q.Rules) > 0 {
				t.Fatalf("%s: shows %q, sends %q", q.Name, shown, q.Rules)
			}
			for _, l := range q.Rules {
				r, err := qubes.ParseRule(l)
				if err != nil || qubes.FormatRule(r) != l {
					t.Fatalf("%s: sends %q, which qfw would not write", q.Name, l)
				}
			}
		}
		saved, err := MarshalPlan(p)
		if err != nil {
			t.Fatalf("a plan that reads does not save: %v", err)
		}
		again, err := parsePlan("plan.json", saved)
		if err != nil {
			t.Fatalf("a plan that reads, saved again, does not read: %v\n%s", err, saved)
		}
		if resaved, _ := MarshalPlan(again); !bytes.Equal(resaved, saved) {
			t.Fatalf("a plan saved again reads back otherwise:\n%s\nthen\n%s", saved, resaved)
		}
	})
}

// FuzzParseStateRules reads QUBE.rules files: each line read is one dom0
// takes, and the lines written back one to a line read back the same.
func FuzzParseStateRules(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := parseStateRules("state/work.rules", data)
		if refused(t, "state/work.rules", err) {
			return
		}
		var b strings.Builder
		for i, line := range l.lines {
			if _, err := qubes.ParseDom0Rule(line); err != nil {
				t.Fatalf("line %q read, which dom0 refuses: %v", line, err)
			}
			if strings.IndexFunc(line, isControl) >= 0 || l.where[i] == "" {
				t.Fatalf("line %q, at %q", line, l.where[i])
			}
			b.WriteString(line + "\n")
		}
		again, err := parseStateRules("state/work.rules", []byte(b.String()))
		if err != nil || !slices.Equal(again.lines, l.lines) {
			t.Fatalf("%q written back reads as %q, %v", l.lines, again, err)
		}
	})
}

// FuzzParseStateJSON reads JSON state files: every line read is one dom0
// takes, and the lists written back as JSON read back the same.
func FuzzParseStateJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		lists, err := parseStateJSON("state.json", data)
		if refused(t, "state.json", err) {
			return
		}
		plain := map[string][]string{}
		for name, l := range lists {
			for _, line := range l.lines {
				if _, err := qubes.ParseDom0Rule(line); err != nil {
					t.Fatalf("%s: line %q read, which dom0 refuses: %v", name, line, err)
				}
				if strings.IndexFunc(line, isControl) >= 0 {
					t.Fatalf("%s: line %q read, with a control character plan would show", name, line)
				}
			}
			plain[name] = l.lines
		}
		b, err := json.Marshal(map[string]any{"qubes": plain})
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseStateJSON("state.json", b)
		if err != nil {
			t.Fatalf("%s written back does not read: %v", b, err)
		}
		for name, l := range again {
			if !slices.Equal(l.lines, plain[name]) {
				t.Fatalf("%s: %q written back reads as %q", name, plain[name], l.lines)
			}
		}
		if len(again) != len(plain) {
			t.Fatalf("%d lists written back read as %d", len(plain), len(again))
		}
	})
}

// FuzzParseRecord reads apply records: a record that reads saves again to
// a file that reads back the same.
func FuzzParseRecord(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseRecord("applied.json", data)
		if refused(t, "applied.json", err) {
			return
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("a record that reads does not save: %v", err)
		}
		again, err := parseRecord("applied.json", b)
		if err != nil {
			t.Fatalf("a record saved again does not read: %v\n%s", err, b)
		}
		if b2, _ := json.Marshal(again); !bytes.Equal(b, b2) {
			t.Fatalf("a record saved again reads back otherwise:\n%s\nthen\n%s", b, b2)
		}
	})
}

// TestReadBounded gives a device that never ends where qfw reads back a
// file of its own: a saved plan, a state file, a QUBE.rules file of a
// state directory and an apply record are each refused once past
// jsonfile.MaxSize, not read until memory runs out.
func TestReadBounded(t *testing.T) {
	dir := t.TempDir()
	for _, link := range []string{"state/work.rules", "data/applied.json"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(link)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("/dev/zero", filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		read func() error
		want string
	}{
		{"plan", func() error { _, err := readPlan("/dev/zero"); return err }, "--plan: /dev/zero is over 64 MiB, which no file qfw writes comes near"},
		{"state file", func() error { _, err := readStateFiles("/dev/zero"); return err }, "--state: /dev/zero is over 64 MiB, which no file qfw writes comes near"},
		{"state directory", func() error { _, err := readStateFiles(filepath.Join(dir, "state")); return err }, "--state: " + filepath.Join(dir, "state/work.rules") + " is over 64 MiB, which no file qfw writes comes near"},
		{"record", func() error { _, err := readRecord(filepath.Join(dir, "data")); return err }, filepath.Join(dir, "data/applied.json") + " is over 64 MiB, which no file qfw writes comes near"},
	} {
		if err := tc.read(); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v; want %s", tc.name, err, tc.want)
		}
	}
}

// TestCheckPlanOut: plan --out replaces a plan qfw saved, or creates the
// file; it refuses any other file, and a pipe, which reading would wait
// on for ever.
func TestCheckPlanOut(t *testing.T) {
	dir := t.TempDir()
	writeTestFiles(t, dir, map[string]string{
		"old.json":    `{"format_version": 0, "qubes": [], "summary": {}}` + "\n",
		"policy.cue":  "package policy\n",
		"state.json":  `{"qubes": {}}` + "\n",
		"broken.json": "{",
	})
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"new.json":    "<nil>",
		"old.json":    "<nil>",
		"policy.cue":  "--out DIR/policy.cue: the file exists and is not a plan qfw saved, which is all plan replaces",
		"state.json":  "--out DIR/state.json: the file exists and is not a plan qfw saved, which is all plan replaces",
		"broken.json": "--out DIR/broken.json: the file exists and is not a plan qfw saved, which is all plan replaces",
		"fifo":        "--out DIR/fifo: not a regular file; plan --json writes the plan to the standard output",
	} {
		err := CheckPlanOut(filepath.Join(dir, name))
		if got := strings.ReplaceAll(fmt.Sprint(err), dir, "DIR"); got != want {
			t.Errorf("%s: %s; want %s", name, got, want)
		}
	}
}

func writeTestFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
