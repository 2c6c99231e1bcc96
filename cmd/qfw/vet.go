package main

import (
	"github.com/spf13/cobra"
)

const vetDoc = `vet loads the policy, checks it against the schema and the inventory,
compiles it, and runs its tests (unless --skip-tests), without writing
anything. It reports every error it finds, each at its file:line:col, and
warnings: redundant rules, host names, qubes no firewall enforces, and what
a unikernel firewall enforces otherwise than the Linux agent.

A rule whose packets earlier rules all match first is an error if any of
those give the other verdict, and a warning if all give its own.`

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
