package main

import (
	"github.com/spf13/cobra"
)

type testFlags struct {
	policyFlags
	json   bool
	format formatValue
	strict bool
}

func newTestCmd() *cobra.Command {
	f := &testFlags{format: newFormatValue(formatText, formatGitHub)}
	cmd := &cobra.Command{
		Use:   "test [DIR | FILE...]",
		Short: "Check the policy's tests against what each firewall enforces",
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
	derr := printReport(cmd, r, f.format.Value, f.strict)
	if b == nil {
		return errPrinted
	}
	tests, w := b.RunTests(), cmd.OutOrStdout()
	switch {
	case f.json:
		if err := tests.WriteJSON(w); err != nil {
			return err
		}
	case f.format.Value == formatGitHub:
		tests.WriteGitHub(w)
	default:
		tests.WriteText(w)
	}
	if tests.Failed > 0 {
		return errPrinted
	}
	return derr
}
