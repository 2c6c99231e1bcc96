package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/backends/qubes"
)

// FuzzParsePlan reads saved plans: a plan that reads is one whose every
// rule qfw would write, whose edits keep and add exactly the rules it
// sends, and whose summary is its edits'; it saves again to a file that
// reads back to the same plan.
func FuzzParsePlan(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parsePlan("plan.json", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "plan.json:") {
				t.Fatalf("error without a position: %v", err)
			}
			return
		}
		if p.Summary != summarise(p) {
			t.Fatalf("summary %+v; the plan counts %+v", p.Summary, summarise(p))
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
		saved, err := marshalPlan(p)
		if err != nil {
			t.Fatalf("a plan that reads does not save: %v", err)
		}
		again, err := parsePlan("plan.json", saved)
		if err != nil {
			t.Fatalf("a plan that reads, saved again, does not read: %v\n%s", err, saved)
		}
		if resaved, _ := marshalPlan(again); !bytes.Equal(resaved, saved) {
			t.Fatalf("a plan saved again reads back otherwise:\n%s\nthen\n%s", saved, resaved)
		}
	})
}

// FuzzParseStateRules reads QUBE.rules files: each line read is one dom0
// takes, and the lines written back one to a line read back the same.
func FuzzParseStateRules(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := parseStateRules("state/work.rules", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "state/work.rules:") {
				t.Fatalf("error without a position: %v", err)
			}
			return
		}
		var b strings.Builder
		for i, line := range l.lines {
			if _, err := qubes.ParseDom0Rule(line); err != nil {
				t.Fatalf("line %q read, which dom0 refuses: %v", line, err)
			}
			if strings.ContainsAny(line, "\n") || l.where[i] == "" {
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
		if err != nil {
			if !strings.HasPrefix(err.Error(), "state.json:") {
				t.Fatalf("error without a position: %v", err)
			}
			return
		}
		plain := map[string][]string{}
		for name, l := range lists {
			for _, line := range l.lines {
				if _, err := qubes.ParseDom0Rule(line); err != nil {
					t.Fatalf("%s: line %q read, which dom0 refuses: %v", name, line, err)
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
		if err != nil {
			if !strings.HasPrefix(err.Error(), "applied.json:") {
				t.Fatalf("error without a position: %v", err)
			}
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
