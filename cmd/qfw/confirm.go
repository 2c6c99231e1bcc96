package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/deploy"
)

func newConfirmCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "confirm",
		Short: "Keep the changes of an apply that waits for confirmation",
		Args:  cobra.NoArgs,
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
