package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/review/query"
)

type explainFlags struct {
	policyFlags
	from     string
	to       string
	icmpType icmpTypeValue
	// extHeaders asks about IPv6 packets with extension headers.
	extHeaders bool
	json       bool
}

func newExplainCmd() *cobra.Command {
	f := &explainFlags{}
	cmd := &cobra.Command{
		Use:   "explain [DIR | FILE...] --from QUBE --to DEST[:PORT][/PROTO]",
		Short: "Say what happens to a connection from a qube, and which rule decides",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExplain(cmd, args, f)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&f.from, "from", "", "the `QUBE` the connection comes from")
	cmd.Flags().StringVar(&f.to, "to", "", "where it goes: `DEST[:PORT][/PROTO]`")
	cmd.Flags().Var(&f.icmpType, "icmp-type", "the ICMP `TYPE`, 0 to 255, with --to DEST/icmp (default: every type)")
	cmd.Flags().BoolVar(&f.extHeaders, "ext-headers", false, "ask about IPv6 packets that carry extension headers before their TCP, UDP or ICMPv6 header")
	cmd.Flags().BoolVar(&f.json, "json", false, "print the answer per part as JSON")
	cmd.MarkFlagRequired("from")
	cmd.MarkFlagRequired("to")
	return cmd
}

func runExplain(cmd *cobra.Command, args []string, f *explainFlags) error {
	q, err := question(f.to, f.icmpType, f.extHeaders, "--to", "--to DEST")
	if err != nil {
		return err
	}
	b, err := build(cmd, args, &f.policyFlags, false)
	if err != nil {
		return err
	}
	p := query.FromBuild(b)
	from := p.Qube(f.from)
	if from == nil {
		return fmt.Errorf("--from %s: no such qube in the policy", f.from)
	}
	w := cmd.OutOrStdout()
	if !f.json && !q.PerPart() {
		return query.ExplainPackets(p, from, q).WriteText(w)
	}
	x, err := query.Explain(p, from, q)
	if err != nil {
		return fmt.Errorf("--to %s: %w", f.to, err)
	}
	if f.json {
		return x.WriteJSON(w)
	}
	return x.WriteText(w)
}

// question reads what explain and who-can-reach ask about: the
// destination text, with --icmp-type and --ext-headers. Errors call the
// destination label, as in "--to 10.0.0.1/sctp: ...", and usage is how
// the command line writes it, as in "--icmp-type is for --to DEST/icmp
// only".
func question(text string, icmp icmpTypeValue, ext bool, label, usage string) (query.Question, error) {
	d, err := query.ParseDest(text)
	if err != nil {
		return query.Question{}, fmt.Errorf("%s %s: %w", label, text, err)
	}
	if icmp.set && d.Proto() != ir.ICMP {
		return query.Question{}, fmt.Errorf("--icmp-type is for %s/icmp only, not %s", usage, d.Proto())
	}
	if ext && d.Family() == 4 {
		return query.Question{}, fmt.Errorf("--ext-headers is for IPv6 destinations only, not %s: IPv4 packets have no extension headers", d.Host())
	}
	return query.Question{Text: text, Dest: d, HasICMPType: icmp.set, ICMPType: icmp.n, ExtHeaders: ext}, nil
}

// icmpTypeValue is the --icmp-type of explain and who-can-reach.
type icmpTypeValue struct {
	set bool
	n   uint8
}

func (v *icmpTypeValue) String() string {
	if !v.set {
		return ""
	}
	return strconv.Itoa(int(v.n))
}

func (v *icmpTypeValue) Set(s string) error {
	n, err := query.ParseICMPType(s)
	if err != nil {
		return err
	}
	v.set, v.n = true, n
	return nil
}

func (v *icmpTypeValue) Type() string { return "TYPE" }
