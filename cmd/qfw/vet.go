package main

import (
	"github.com/spf13/cobra"
)

const vetDoc = `vet loads the policy, checks it against the schema and the inventory,
compiles it, and runs its tests (unless --skip-tests), without writing
anything. It reports every error it finds, each at its file:line:col, and
warnings: redundant rules, host names, expired rules, qubes no firewall
enforces, and what a unikernel firewall enforces otherwise than the Linux
agent.

A rule whose packets earlier rules all match first is an error if any of
those give the other verdict, and a warning if all give its own.

--format github prints every error and warning as a GitHub Actions
annotation on its line, on stdout; --format json prints them as one JSON
document (format_version 1.0), with the warnings that rules acknowledge.

--strict makes warnings errors: vet exits 1 if there is any. A rule
acknowledges the warnings it is meant to have by kind, with ack (for
example ack: ["expired"] on an expired rule kept for the record, or
ack: ["hostname"] on a rule to a host name): they are not reported, while
a new warning still is, and so is an ack that matches no warning. The
kinds a rule can acknowledge are expired, hostname, port-zero, redundant,
shadowed and unresolved; a qube can acknowledge no-netvm. --strict and
the github and json formats show each warning's kind.`

const vetExamples = `  # Check the policy in the current directory against ./inventory.json.
  qfw vet

  # Check a policy directory with an inventory kept elsewhere.
  qfw vet ./policy --inventory ./machines/laptop.json

  # Check single files: CUE, and data as JSON or YAML.
  qfw vet base.cue work.yaml

  # In CI: annotations on the policy's lines, and no warning left unacknowledged.
  qfw vet --format github --strict`

type vetFlags struct {
	policyFlags
	format formatValue
	strict bool
}

func newVetCmd() *cobra.Command {
	f := &vetFlags{format: formatValue{takes: []format{formatText, formatGitHub, formatJSON}}}
	cmd := &cobra.Command{
		Use:     "vet [DIR | FILE...]",
		Short:   "Check a policy and report every error at its position",
		Long:    vetDoc,
		Example: vetExamples,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, r := buildReport(args, &f.policyFlags, true)
			return printReport(cmd, r, f.format.format, f.strict)
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
