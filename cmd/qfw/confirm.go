package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/deploy"
)

const confirmDoc = `confirm keeps the changes of a qfw apply --confirm-timeout that is waiting:
without it, that apply puts every qube it changed back to its previous list
when the timeout ends. Run it where apply runs (with the same --data-dir)
once you have checked, from the qubes the change affects, that the new rules
did not cut you off.`

func newConfirmCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:     "confirm",
		Short:   "Keep the changes of an apply that waits for confirmation",
		Long:    confirmDoc,
		Example: "  qfw apply --target qubes --confirm-timeout 2m policy/ &\n  qfw confirm",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := deploy.Confirm(dir); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Confirmed: the changes stay.")
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "data-dir", "", "qfw's data `DIR`, as apply was given it (default $XDG_STATE_HOME/qfw or ~/.local/state/qfw)")
	return cmd
}
