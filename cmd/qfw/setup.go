package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/policy/diagnostic"
)

const setupDoc = `setup writes what a machine needs to run qfw.`

const qrexecPolicyDoc = `qrexec-policy prints the dom0 qrexec policy file (the format of Qubes 4.1
and later, for /etc/qubes/policy.d/) that lets the management qube NAME run
qfw with --qrexec: the Admin API calls qfw's commands make, and no others.

It allows NAME, each call redirected to dom0 (target=dom0):
  - to read every qube's class, network properties, tags and firewall
    rules, as inventory, import, plan and apply do;
  - to set the rules of the qubes tagged qfw-managed, and to remove that
    tag (apply --release and --reset);
  - to tag qfw-managed, by name, the qubes the policy manages and those the
    inventory shows tagged that left it: apply tags a qube before it sets
    its rules, so NAME sets the rules of no other qube;
  - if the policy has unikernel firewall qubes, to create them
    (admin.vm.Create.StandaloneVM, which names no qube), and to read and
    set, by name, the properties and features qfw gives them.

The policy is read as vet reads it: a directory (the current one if none
is given) or files, with the inventory beside it or --inventory; its tests
are not run. --read-only prints only the rules that read, with no policy:
for qfw inventory and qfw import on a machine that has no policy yet.

The output goes to /etc/qubes/policy.d/30-qfw.policy in dom0, before the
Admin API's defaults; its header says how to install it. Print it and
install it again when the policy manages other qubes.`

const qrexecPolicyExamples = `  # Before there is a policy: let mgmt read, to import the rules in force.
  qfw setup qrexec-policy --mgmt mgmt --read-only > 30-qfw.policy

  # For the policy in policy/, in the management qube mgmt.
  qfw setup qrexec-policy --mgmt mgmt policy/ > 30-qfw.policy

  # Then in dom0: copy it out of mgmt, read it, install it.
  qvm-run --pass-io --no-gui mgmt 'cat 30-qfw.policy' > 30-qfw.policy
  sudo install -m 0644 30-qfw.policy /etc/qubes/policy.d/30-qfw.policy`

type qrexecPolicyFlags struct {
	mgmt, inventory string
	readOnly        bool
}

func newSetupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Write what a machine needs to run qfw",
		Long:  setupDoc,
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
		Use:     "qrexec-policy --mgmt NAME [DIR | FILE...]",
		Short:   "Print the dom0 qrexec policy that lets a management qube run qfw",
		Long:    qrexecPolicyDoc,
		Example: qrexecPolicyExamples,
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
