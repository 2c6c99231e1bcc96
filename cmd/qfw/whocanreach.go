package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/internal/jsonfile"
	"github.com/qfw-dev/qfw/policytest"
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

// reachOf says how much of a destination a qube can reach.
type reachOf uint8

const (
	reachNone reachOf = iota
	reachPart
	reachAll
)

func (r reachOf) String() string {
	return [...]string{"none", "part", "all"}[r]
}

// qubeReach is a qube's answer: how much it reaches, and the fate of each
// part at each of its firewall qubes (none without a netvm).
type qubeReach struct {
	name    string
	reach   reachOf
	answers []*answer
}

func runWhoCanReach(cmd *cobra.Command, args []string, f *whoCanReachFlags) error {
	text := args[0]
	d, err := parseDest(text)
	if err != nil {
		return fmt.Errorf("destination %s: %w", text, err)
	}
	if f.icmpType.set && d.proto != ir.ICMP {
		return fmt.Errorf("--icmp-type is for DEST/icmp only, not %s", d.proto)
	}
	if f.extHeaders && (d.to.Family() == 4 || d.many() && d.first.Is4()) {
		return fmt.Errorf("--ext-headers is for IPv6 destinations only, not %s: IPv4 packets have no extension headers", d.hostString())
	}
	res, err := build(cmd, args[1:], &f.policyFlags, false)
	if err != nil {
		return err
	}
	prog := res.Program
	resolver := eval.Table(prog.Resolve)
	qs, err := d.queries(f.icmpType, f.extHeaders, resolver)
	if err != nil {
		return fmt.Errorf("destination %s: %w", text, err)
	}
	var out []qubeReach
	for i := range prog.Qubes {
		q := &prog.Qubes[i]
		qr := qubeReach{name: q.Name}
		enforcers := policytest.Enforcers(prog, q, resolver, f.now.t.Unix())
		accepts, drops := false, len(enforcers) == 0
		for k := range enforcers {
			a := answerFor(&enforcers[k], qs)
			qr.answers = append(qr.answers, a)
			accepts, drops = accepts || a.accepts(), drops || a.drops()
		}
		switch {
		case accepts && drops:
			qr.reach = reachPart
		case accepts:
			qr.reach = reachAll
		}
		out = append(out, qr)
	}
	slices.SortFunc(out, func(a, b qubeReach) int { return cmp.Compare(a.name, b.name) })
	w := cmd.OutOrStdout()
	if f.json {
		return printWhoCanReachJSON(w, text, f.extHeaders, out)
	}
	if f.extHeaders {
		fmt.Fprintf(w, "who can reach %s, IPv6 packets with extension headers:\n", text)
	} else {
		fmt.Fprintf(w, "who can reach %s:\n", text)
	}
	for _, qr := range out {
		if len(qr.answers) == 0 {
			fmt.Fprintf(w, "  %s: none of it: it has no netvm, so its packets go nowhere\n", qr.name)
			continue
		}
		for _, a := range qr.answers {
			fmt.Fprintf(w, "  %s, behind %s: %s\n", qr.name, &a.at, reachText(a))
			printParts(w, "      ", qr.name, a)
			if len(a.unpinned) > 0 {
				fmt.Fprintf(w, "      note: the resolve section pins no addresses for %s: its rules count for no address here, and would decide where it resolves to\n", jsonfile.OrList(a.unpinned))
			}
		}
	}
	return nil
}

// reachText says how much of the destination a reaches.
func reachText(a *answer) string {
	switch {
	case a.accepts() && a.drops():
		return "part of it"
	case a.accepts():
		return "all of it"
	}
	return "none of it"
}

func printWhoCanReachJSON(w io.Writer, dest string, ext bool, qubes []qubeReach) error {
	type qubeJSON struct {
		Qube      string       `json:"qube"`
		Reach     string       `json:"reach"`
		NoNetvm   bool         `json:"no_netvm,omitempty"`
		Firewalls []answerJSON `json:"firewalls"`
	}
	doc := struct {
		FormatVersion string     `json:"format_version"`
		Destination   string     `json:"destination"`
		ExtHeaders    bool       `json:"ext_headers,omitempty"`
		Qubes         []qubeJSON `json:"qubes"`
	}{FormatVersion: partsFormatVersion, Destination: dest, ExtHeaders: ext, Qubes: []qubeJSON{}}
	for _, qr := range qubes {
		qj := qubeJSON{Qube: qr.name, Reach: qr.reach.String(), NoNetvm: len(qr.answers) == 0, Firewalls: []answerJSON{}}
		for _, a := range qr.answers {
			qj.Firewalls = append(qj.Firewalls, answerToJSON(qr.name, a))
		}
		doc.Qubes = append(doc.Qubes, qj)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
