package main

import (
	"github.com/spf13/cobra"
)

const vetDoc = `vet loads the policy, checks it against the schema and the inventory, and
compiles it, without writing anything. It reports every error it finds, each
at its file:line:col, and warnings for rules that are redundant or that
depend on DNS.

A rule that can never take effect because earlier rules with the other
verdict match all its packets is an error; one that earlier rules with the
same verdict already cover is a warning.`

const vetExamples = `  # Check the policy in the current directory against ./inventory.json.
  qfw vet

  # Check a policy directory with an inventory kept elsewhere.
  qfw vet ./policy --inventory ./machines/laptop.json

  # Check single files: CUE, and data as JSON or YAML.
  qfw vet base.cue work.yaml`

func newVetCmd() *cobra.Command {
	var f policyFlags
	cmd := &cobra.Command{
		Use:     "vet [DIR | FILE...]",
		Short:   "Check a policy and report every error at its position",
		Long:    vetDoc,
		Example: vetExamples,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := build(cmd, args, &f, true)
			return err
		},
	}
	f.register(cmd)
	f.registerSkipTests(cmd)
	return cmd
}
