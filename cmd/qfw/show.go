package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/review/query"
)

type showFlags struct {
	policyFlags
	json bool
}

func newShowCmd() *cobra.Command {
	f := &showFlags{}
	cmd := &cobra.Command{
		Use:   "show QUBE [DIR | FILE...]",
		Short: "Say everything a qube can reach, and which rules allow it",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("show takes the qube to show, then the policy: qfw show QUBE [DIR | FILE...]")
			}
			if args[0] == "" {
				return errors.New("QUBE is empty: name the qube to show")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runShow(cmd, args, f)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&f.json, "json", false, "print the lines as JSON")
	return cmd
}

func runShow(cmd *cobra.Command, args []string, f *showFlags) error {
	b, err := build(cmd, args[1:], &f.policyFlags, false)
	if err != nil {
		return err
	}
	p := query.FromBuild(b)
	q := p.Qube(args[0])
	if q == nil {
		return fmt.Errorf("%s: no such qube in the policy", args[0])
	}
	r := query.Show(p, q)
	if f.json {
		return r.WriteJSON(cmd.OutOrStdout())
	}
	return r.WriteText(cmd.OutOrStdout())
}
