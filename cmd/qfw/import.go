package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/deploy"
)

type importFlags struct {
	admin adminFlags
	deploy.ImportOptions
}

func newImportCmd() *cobra.Command {
	f := &importFlags{}
	cmd := &cobra.Command{
		Use:   "import -o DIR",
		Short: "Write the rule lists qubes have now as a policy that compiles back to them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImport(cmd, f)
		},
	}
	f.admin.register(cmd)
	cmd.Flags().StringVar(&f.State, "state", "", "read the lists from `PATH`, a directory of QUBE.rules files or a JSON file, instead of the Admin API")
	cmd.Flags().StringVar(&f.Inventory, "inventory", "", "the inventory `FILE`: read with --state, written from the Admin API otherwise (default DIR/inventory.json)")
	cmd.Flags().StringArrayVar(&f.Qubes, "qube", nil, "import the qube `NAME` only (repeatable)")
	cmd.Flags().StringArrayVar(&f.Firewalls, "firewall", nil, "the backend a firewall qube runs, as `NAME=BACKEND`: qubes (the Linux agent, the default), nftables, or mirage:VERSION (repeatable)")
	cmd.Flags().StringVarP(&f.Out, "out", "o", "", "write the policy into `DIR`")
	cmd.Flags().BoolVar(&f.PerQube, "per-qube", false, "write one file per qube, qube-NAME.cue, instead of qubes.cue")
	cmd.Flags().StringVar(&f.Package, "package", "policy", "the CUE `NAME` of the policy's package")
	cmd.Flags().BoolVar(&f.Force, "force", false, "overwrite files that exist")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func runImport(cmd *cobra.Command, f *importFlags) error {
	f.Admin = f.admin.Admin
	res, err := deploy.Import(cmd.Context(), &f.ImportOptions)
	if res != nil {
		for _, p := range res.Problems {
			fmt.Fprintf(cmd.ErrOrStderr(), "qfw: not imported: %v\n", p)
		}
	}
	if err != nil {
		return printPositioned(cmd, err)
	}
	if err := res.WriteSummary(cmd.OutOrStdout()); err != nil {
		return err
	}
	if len(res.Problems) > 0 {
		return errPrinted
	}
	return nil
}
