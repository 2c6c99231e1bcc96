package main

import (
	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/deploy"
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
	if err != nil {
		return printPositioned(cmd, err)
	}
	if f.out != "" {
		return deploy.WriteFile(f.out, b)
	}
	_, err = cmd.OutOrStdout().Write(b)
	return err
}
