package main

import (
	cueerrors "cuelang.org/go/cue/errors"
	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/policy/diagnostic"
)

const inventoryDoc = `inventory reads, through the Qubes Admin API, what qfw needs to know of every
qube: class, IPv4 and IPv6 address, netvm, label, tags, and whether it
provides network. It prints it as JSON, the inventory file that vet, compile
and test read offline (inventory.json beside the policy, or --inventory).

In dom0 it asks qubesd on its socket. In a management qube, --qrexec asks
through qrexec-client-vm; dom0's qrexec policy must allow admin.vm.List,
admin.vm.property.Get and admin.vm.tag.List to it, with target=dom0. The
qubes the policy does not let it see are left out, as are dom0 and remote
qubes. --socket and --qrexec do not go together, and --qrexec-client goes
with --qrexec only: a flag that would be ignored is an error.`

const inventoryExamples = `  # In dom0: refresh the inventory beside the policy.
  qfw inventory -o policy/inventory.json

  # In a management qube.
  qfw inventory --qrexec -o policy/inventory.json`

type inventoryFlags struct {
	out   string
	admin adminFlags
}

func newInventoryCmd() *cobra.Command {
	f := &inventoryFlags{}
	cmd := &cobra.Command{
		Use:     "inventory [-o FILE]",
		Short:   "Read the machine's qubes through the Admin API, as an inventory file",
		Long:    inventoryDoc,
		Example: inventoryExamples,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInventory(cmd, f)
		},
	}
	cmd.Flags().StringVarP(&f.out, "out", "o", "", "write the inventory to `FILE` instead of printing it")
	f.admin.register(cmd)
	return cmd
}

func runInventory(cmd *cobra.Command, f *inventoryFlags) error {
	if err := deploy.CheckInventoryOut(f.out); err != nil {
		return err
	}
	b, err := f.admin.ReadInventory(cmd.Context())
	if ce, ok := err.(cueerrors.Error); ok {
		diagnostic.WriteErrors(cmd.ErrOrStderr(), cueerrors.Errors(ce))
		return errPrinted
	} else if err != nil {
		return err
	}
	if f.out != "" {
		return deploy.WriteFile(f.out, b)
	}
	_, err = cmd.OutOrStdout().Write(b)
	return err
}
