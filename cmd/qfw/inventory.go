package main

import (
	cueerrors "cuelang.org/go/cue/errors"
	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/policy/diagnostic"
)

type inventoryFlags struct {
	out   string
	admin adminFlags
}

func newInventoryCmd() *cobra.Command {
	f := &inventoryFlags{}
	cmd := &cobra.Command{
		Use:   "inventory [-o FILE]",
		Short: "Read the machine's qubes through the Admin API, as an inventory file",
		Args:  cobra.NoArgs,
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
