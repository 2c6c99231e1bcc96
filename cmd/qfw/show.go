package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/review/query"
)

const showDoc = `show says everything a qube can reach: the packets its firewall qube
accepts from it, summarised as diff summarises a change (destinations
merged into the fewest prefixes and names, protocols, port ranges, ICMP
types, DNS), each line with the rule that accepts it and where the policy
says it.

It is computed exactly over the whole packet space, with the qube's lists
judged as its firewall qube enforces them (the stock agent, qfw's nftables
backend or the unikernel's release). Host names resolve as the policy's
resolve section says; a name it does not pin is shown as a name. ICMP
types are ICMPv6 types for IPv6 destinations.

--json prints the lines as JSON (format_version 1.0).`

const showExamples = `  # What may work reach?
  qfw show work

  # The same, of the policy in ./policy, as JSON.
  qfw show work ./policy --json`

type showFlags struct {
	policyFlags
	json bool
}

func newShowCmd() *cobra.Command {
	f := &showFlags{}
	cmd := &cobra.Command{
		Use:     "show QUBE [DIR | FILE...]",
		Short:   "Say everything a qube can reach, and which rules allow it",
		Long:    showDoc,
		Example: showExamples,
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
	p := query.FromBuild(b, f.now.t)
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
