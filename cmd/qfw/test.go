package main

import (
	"github.com/spf13/cobra"
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
	b, r := buildReport(args, &f.policyFlags, false)
	// With --json, the tests go to stdout as JSON and the diagnostics to
	// stderr as text.
	derr := printReport(cmd, r, f.format.format, f.strict)
	if b == nil {
		return errPrinted
	}
	tests, w := b.RunTests(f.now.t), cmd.OutOrStdout()
	switch {
	case f.json:
		if err := tests.WriteJSON(w); err != nil {
			return err
		}
	case f.format.format == formatGitHub:
		tests.WriteGitHub(w)
	default:
		tests.WriteText(w)
	}
	if tests.Failed > 0 {
		return errPrinted
	}
	return derr
}
