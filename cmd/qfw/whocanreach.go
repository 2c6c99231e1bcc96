package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/review/query"
)

const whoCanReachDoc = `who-can-reach says, for every qube of the policy, whether it can reach
DEST: all of it, part of it, or none of it, with the parts its firewall
qube accepts and those it drops, each with the rule that decides it, where
the policy says it, and the rule as dom0 stores it.

DEST is as explain's --to takes it: an address, a prefix (10.0.0.0/8), a
range of one family (10.0.0.1-10.0.0.20), "any", or a host name that the
policy's resolve section pins, with an optional port and protocol:
192.168.0.0/16:80/tcp, [2001:db8::/32]:443, 10.0.0.5/icmp. Without a
protocol, a prefix or a range without a port stands for every protocol
(tcp, udp, icmp and the others), and the rest for tcp; /any asks about
every protocol.

It is computed exactly over the packets DEST stands for, with each
qube's lists judged as its firewall qube enforces them (the stock agent,
qfw's nftables backend or the unikernel's release). Qubes are in order of
name; within a qube, the accepted parts come first, then by destination.

--json prints the answer as JSON (format_version 1.0).`

const whoCanReachExamples = `  # Who may reach the printer?
  qfw who-can-reach 192.168.1.50:631

  # Who may reach anything in the LAN, over any protocol?
  qfw who-can-reach 192.168.0.0/16

  # The same, of the policy in ./policy, as JSON.
  qfw who-can-reach 192.168.0.0/16 ./policy --json`

type whoCanReachFlags struct {
	policyFlags
	icmpType   icmpTypeValue
	extHeaders bool
	json       bool
}

func newWhoCanReachCmd() *cobra.Command {
	f := &whoCanReachFlags{}
	cmd := &cobra.Command{
		Use:     "who-can-reach DEST[:PORT][/PROTO] [DIR | FILE...]",
		Short:   "Say which qubes can reach a destination, and which rules decide",
		Long:    whoCanReachDoc,
		Example: whoCanReachExamples,
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
	r, err := query.WhoCanReach(query.FromBuild(b, f.now.t), q)
	if err != nil {
		return fmt.Errorf("destination %s: %w", args[0], err)
	}
	if f.json {
		return r.WriteJSON(cmd.OutOrStdout())
	}
	return r.WriteText(cmd.OutOrStdout())
}
