package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/policy/diagnostic"
)

type qrexecPolicyFlags struct {
	mgmt, inventory string
	readOnly        bool
}

func newSetupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Write what a machine needs to run qfw",
		// Without this, cobra would show the help for a mistyped
		// subcommand and exit 0.
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("setup %s: no such setup; qrexec-policy is the one there is", args[0])
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(newQrexecPolicyCmd())
	return cmd
}

func newQrexecPolicyCmd() *cobra.Command {
	f := &qrexecPolicyFlags{}
	cmd := &cobra.Command{
		Use:   "qrexec-policy --mgmt NAME [DIR | FILE...]",
		Short: "Print the dom0 qrexec policy that lets a management qube run qfw",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runQrexecPolicy(cmd, args, f)
		},
	}
	cmd.Flags().StringVar(&f.mgmt, "mgmt", "", "the management qube `NAME`, where qfw runs with --qrexec")
	cmd.Flags().BoolVar(&f.readOnly, "read-only", false, "print only the rules that read, for inventory and import; with no policy")
	cmd.Flags().StringVar(&f.inventory, "inventory", "", "read the inventory from `FILE` (default: inventory.json beside the policy)")
	_ = cmd.MarkFlagRequired("mgmt")
	return cmd
}

func runQrexecPolicy(cmd *cobra.Command, args []string, f *qrexecPolicyFlags) error {
	switch {
	case f.mgmt == "dom0":
		return fmt.Errorf("--mgmt dom0: qfw in dom0 reaches qubesd through its socket, which no qrexec policy governs")
	case f.readOnly && len(args) > 0:
		return fmt.Errorf("--read-only reads no policy, but %s is given", args[0])
	case f.readOnly && f.inventory != "":
		return fmt.Errorf("--inventory does not go with --read-only: --read-only reads no policy")
	}
	stderr := cmd.ErrOrStderr()
	var res *deploy.Built
	if !f.readOnly {
		// The lists will be set from a management qube: checked for the
		// longest name it can have. The policy's warnings are vet's to
		// show: only its errors stop setup, and then they are shown with
		// the warnings.
		var r *diagnostic.Report
		if res, r = buildReport(args, &policyFlags{inventory: f.inventory, qrexec: true}, false); res == nil {
			r.WriteText(stderr, false)
			return errPrinted
		}
	}
	file, err := deploy.QrexecPolicy(f.mgmt, res, stderr)
	if err != nil {
		return err
	}
	_, err = cmd.OutOrStdout().Write(file)
	return err
}
