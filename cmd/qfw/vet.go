package main

import (
	"github.com/spf13/cobra"
)

type vetFlags struct {
	policyFlags
	format formatValue
	strict bool
}

func newVetCmd() *cobra.Command {
	f := &vetFlags{format: newFormatValue(formatText, formatGitHub, formatJSON)}
	cmd := &cobra.Command{
		Use:   "vet [DIR | FILE...]",
		Short: "Check a policy and report every error at its position",
		RunE: func(cmd *cobra.Command, args []string) error {
			_, r := buildReport(args, &f.policyFlags, true)
			return printReport(cmd, r, f.format.Value, f.strict)
		},
	}
	f.register(cmd)
	f.registerSkipTests(cmd)
	cmd.Flags().Var(&f.format, "format", "print errors and warnings as `FORMAT`: text, github (workflow annotations) or json")
	registerStrict(cmd, &f.strict)
	return cmd
}

// registerStrict adds --strict, for the commands that report warnings.
func registerStrict(cmd *cobra.Command, strict *bool) {
	cmd.Flags().BoolVar(strict, "strict", false, "make warnings errors, but those the rules acknowledge with ack")
}
