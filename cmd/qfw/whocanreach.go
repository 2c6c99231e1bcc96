package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/review/query"
)

type whoCanReachFlags struct {
	policyFlags
	icmpType   icmpTypeValue
	extHeaders bool
	json       bool
}

func newWhoCanReachCmd() *cobra.Command {
	f := &whoCanReachFlags{}
	cmd := &cobra.Command{
		Use:   "who-can-reach DEST[:PORT][/PROTO] [DIR | FILE...]",
		Short: "Say which qubes can reach a destination, and which rules decide",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("who-can-reach takes the destination, then the policy: qfw who-can-reach DEST[:PORT][/PROTO] [DIR | FILE...]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWhoCanReach(cmd, args, f)
		},
	}
	f.register(cmd)
	cmd.Flags().Var(&f.icmpType, "icmp-type", "the ICMP `TYPE`, 0 to 255, with DEST/icmp (default: every type)")
	cmd.Flags().BoolVar(&f.extHeaders, "ext-headers", false, "ask about IPv6 packets that carry extension headers before their TCP, UDP or ICMPv6 header")
	cmd.Flags().BoolVar(&f.json, "json", false, "print the answer as JSON")
	return cmd
}

func runWhoCanReach(cmd *cobra.Command, args []string, f *whoCanReachFlags) error {
	q, err := question(args[0], f.icmpType, f.extHeaders, "destination", "DEST")
	if err != nil {
		return err
	}
	b, err := build(cmd, args[1:], &f.policyFlags, false)
	if err != nil {
		return err
	}
	r, err := query.WhoCanReach(query.FromBuild(b), q)
	if err != nil {
		return fmt.Errorf("destination %s: %w", args[0], err)
	}
	if f.json {
		return r.WriteJSON(cmd.OutOrStdout())
	}
	return r.WriteText(cmd.OutOrStdout())
}
