package deploy

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/qfw-dev/qfw/internal/workdir"
	"github.com/qfw-dev/qfw/policy/diagnostic"
	"github.com/qfw-dev/qfw/policytest"
)

// TestReport is how a policy's tests came out.
type TestReport struct {
	// Outcomes are the tests' outcomes, in the policy's order.
	Outcomes []policytest.Outcome
	// Failed is how many of them failed.
	Failed int
}

// RunTests runs the policy's tests with expiry judged at the build's time,
// on the lists the build lowered.
func (b *Built) RunTests() *TestReport {
	r := &TestReport{Outcomes: policytest.Run(b.Program, b.Now.Unix(), b.Mirage)}
	for i := range r.Outcomes {
		if !r.Outcomes[i].Passed {
			r.Failed++
		}
	}
	return r
}

// WriteText writes a line for each failing test, at its position, saying
// what was expected, what happened and which rule decided, then a summary.
func (r *TestReport) WriteText(w io.Writer) {
	r.write(w, func(o *policytest.Outcome, msg string) { fmt.Fprintf(w, "%s: %s\n", workdir.Pos(o.Test.Pos), msg) })
}

// WriteGitHub writes what WriteText does, with each failing test as a
// GitHub Actions error annotation on its line.
func (r *TestReport) WriteGitHub(w io.Writer) {
	r.write(w, func(o *policytest.Outcome, msg string) {
		diagnostic.WriteAnnotation(w, diagnostic.LevelError, o.Test.Pos, "", msg)
	})
}

func (r *TestReport) write(w io.Writer, failure func(o *policytest.Outcome, msg string)) {
	for i := range r.Outcomes {
		if o := &r.Outcomes[i]; !o.Passed {
			failure(o, fmt.Sprintf("tests.%d: %s", o.Test.Index, Failure(o)))
		}
	}
	fmt.Fprintf(w, "%d tests, %d passed, %d failed\n", len(r.Outcomes), len(r.Outcomes)-r.Failed, r.Failed)
}

// JSONTest is one test in the JSON document of a [TestReport].
type JSONTest struct {
	Index    int    `json:"index"`
	Position string `json:"position"`
	From     string `json:"from"`
	To       string `json:"to"`
	Expect   string `json:"expect"`
	Passed   bool   `json:"passed"`
	Packets  int    `json:"packets"`
	// Failure says why the test failed, as the text output does.
	Failure string `json:"failure,omitempty"`
	// Rule and RulePosition name the rule that decided the failing packet.
	Rule         string `json:"rule,omitempty"`
	RulePosition string `json:"rule_position,omitempty"`
	// PossibleRule and PossiblePosition name a rule that may decide
	// otherwise, depending on addresses qfw does not know.
	PossibleRule     string `json:"possible_rule,omitempty"`
	PossiblePosition string `json:"possible_position,omitempty"`
}

// JSONTestSummary counts the tests of a [TestReport].
type JSONTestSummary struct {
	Failed int `json:"failed"`
	Passed int `json:"passed"`
	Tests  int `json:"tests"`
}

// JSONTestReport is the JSON document of a [TestReport], format version
// 1.0.
type JSONTestReport struct {
	FormatVersion string          `json:"format_version"`
	Summary       JSONTestSummary `json:"summary"`
	// Tests are every test, passed or failed, in the policy's order.
	Tests []JSONTest `json:"tests"`
}

// JSON returns r's JSON document.
func (r *TestReport) JSON() *JSONTestReport {
	doc := &JSONTestReport{
		FormatVersion: "1.0",
		Summary:       JSONTestSummary{Failed: r.Failed, Passed: len(r.Outcomes) - r.Failed, Tests: len(r.Outcomes)},
		Tests:         make([]JSONTest, len(r.Outcomes)),
	}
	for i := range r.Outcomes {
		o := &r.Outcomes[i]
		t := JSONTest{
			Index: o.Test.Index, Position: workdir.Pos(o.Test.Pos), From: o.Test.From, To: o.Test.ToText,
			Expect: o.Test.Expect.String(), Passed: o.Passed, Packets: o.Packets,
		}
		if !o.Passed {
			t.Failure = Failure(o)
			if r := o.Rule(o.Result.Rule); r != nil && r.Origin.Name != "" {
				t.Rule, t.RulePosition = r.Origin.String(), workdir.Pos(r.Origin.Pos)
			}
			possible := o.Result.Possible
			if possible < 0 {
				possible = o.Result.MayBlock
			}
			if r := o.Rule(possible); r != nil && r.Origin.Name != "" {
				t.PossibleRule, t.PossiblePosition = r.Origin.String(), workdir.Pos(r.Origin.Pos)
			}
		}
		doc.Tests[i] = t
	}
	return doc
}

// WriteJSON writes r's JSON document, indented.
func (r *TestReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r.JSON())
}
