package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/policytest"
)

const testDoc = `test compiles the policy and checks its tests. Each test says what one qube
may or may not reach; it is checked against the qube's rules as its netvm
enforces them, and stands for every packet it names: every address of a
prefix or of "any", every port when it gives none, and every protocol
(tcp, udp, icmp and the rest) when it gives none. A test passes only if all of them meet its
expectation whatever the names in the rules resolve to, so the names a
verdict depends on must be pinned in the policy's resolve section (or in
the test's addresses).

It prints one line per failing test, saying what was expected, what
happened and which rule decided, then a summary. It exits 0 when every test
passes and 1 when one fails or the policy has errors.

--json prints every test, passed or failed, as JSON, and --format chooses
how the text output shows failures: give one or the other. With --format
github, the policy's errors and warnings are annotations on their lines
too.

--strict makes warnings errors, as it does for vet: test exits 1 if
there is any that no rule acknowledges.

vet and compile run the tests too, unless given --skip-tests.`

const testExamples = `  # Check the tests of the policy in the current directory.
  qfw test

  # As GitHub Actions annotations on the lines of the failing tests.
  qfw test --format github

  # As JSON, for other tools.
  qfw test ./policy --json`

type testFlags struct {
	policyFlags
	json   bool
	format formatValue
	strict bool
}

func newTestCmd() *cobra.Command {
	f := &testFlags{format: formatValue{takes: []format{formatText, formatGitHub}}}
	cmd := &cobra.Command{
		Use:     "test [DIR | FILE...]",
		Short:   "Check the policy's tests against what each firewall enforces",
		Long:    testDoc,
		Example: testExamples,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTest(cmd, args, f)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&f.json, "json", false, "print every test as JSON (not with --format)")
	cmd.Flags().Var(&f.format, "format", "print failures as `FORMAT`: text or github (workflow annotations; not with --json)")
	registerStrict(cmd, &f.strict)
	return cmd
}

func runTest(cmd *cobra.Command, args []string, f *testFlags) error {
	res, diags, err := buildDiagnosed(cmd, args, &f.policyFlags, false)
	// With --json, the tests go to stdout as JSON and the diagnostics to
	// stderr as text.
	derr := diags.print(cmd.OutOrStdout(), cmd.ErrOrStderr(), f.format.format, f.strict)
	if err != nil {
		return err
	}
	outcomes := policytest.RunLowered(res.Program, f.now.t.Unix(), res.Mirage)
	failed := 0
	for _, o := range outcomes {
		if !o.Passed {
			failed++
		}
	}
	w := cmd.OutOrStdout()
	if f.json {
		err = printTestJSON(w, outcomes, failed)
	} else {
		printTestText(w, outcomes, failed, f.format)
	}
	if err == nil && failed > 0 {
		err = errPrinted
	}
	if err == nil {
		err = derr
	}
	return err
}

func printTestText(w io.Writer, outcomes []policytest.Outcome, failed int, format formatValue) {
	for i := range outcomes {
		o := &outcomes[i]
		if o.Passed {
			continue
		}
		pos := o.Test.Pos
		msg := fmt.Sprintf("tests.%d: %s", o.Test.Index, failure(o))
		if format.format == formatGitHub {
			printAnnotation(w, "error", pos, "", msg)
		} else {
			fmt.Fprintf(w, "%s: %s\n", deploy.RelPos(pos), msg)
		}
	}
	fmt.Fprintf(w, "%d tests, %d passed, %d failed\n", len(outcomes), len(outcomes)-failed, failed)
}

type testJSON struct {
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

func printTestJSON(w io.Writer, outcomes []policytest.Outcome, failed int) error {
	tests := make([]testJSON, len(outcomes))
	for i := range outcomes {
		o := &outcomes[i]
		t := testJSON{
			Index: o.Test.Index, Position: deploy.RelPos(o.Test.Pos), From: o.Test.From, To: o.Test.ToText,
			Expect: o.Test.Expect.String(), Passed: o.Passed, Packets: o.Packets,
		}
		if !o.Passed {
			t.Failure = failure(o)
			if r := o.Rule(o.Result.Rule); r != nil && r.Origin.Name != "" {
				t.Rule, t.RulePosition = r.Origin.String(), deploy.RelPos(r.Origin.Pos)
			}
			possible := o.Result.Possible
			if possible < 0 {
				possible = o.Result.MayBlock
			}
			if r := o.Rule(possible); r != nil && r.Origin.Name != "" {
				t.PossibleRule, t.PossiblePosition = r.Origin.String(), deploy.RelPos(r.Origin.Pos)
			}
		}
		tests[i] = t
	}
	doc := map[string]any{
		"format_version": "1.0",
		"tests":          tests,
		"summary":        map[string]int{"tests": len(outcomes), "passed": len(outcomes) - failed, "failed": failed},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
