package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/review/query"
)

const explainDoc = `explain says what happens to a connection from a qube: for the firewall qube
that enforces the qube's rules, its verdict, the rule that decides it with
that rule's position in the policy, and the rule as dom0 stores it (for a
unikernel firewall's clients, as its QubesDB entry, which it reads).

DEST is an address, a host name or "any", with an optional port and
protocol: 192.0.2.1, github.com:22, [2001:db8::1]:443/tcp, 10.0.0.1/icmp.
An IPv6 address followed by a port goes in brackets. The protocol is tcp
unless given, and a port is from 1 to 65535; without one, every port is
considered and the answer is given per range of ports that share it.
--icmp-type, 0 to 255, goes with an /icmp destination only: an ICMPv6
type for an IPv6 address and an ICMP type otherwise; without it, every
type is considered likewise.

DEST may also be a prefix (192.168.0.0/16, [2001:db8::/32]:443) or a
range of one family (10.0.0.1-10.0.0.20), and the protocol "any", every
protocol: tcp, udp, icmp (ICMPv6 in IPv6) and the others. A prefix or a
range without a protocol or port stands for every protocol. Then explain
answers per part: it cuts the packets asked about into parts that meet
one fate for one reason, exactly, over every address, protocol and port
asked, and gives each part (services to destinations, merged into the
fewest prefixes) with its verdict and the rule that decides it, accepted
parts first, then by destination. --json prints this answer, for any
DEST (format_version 1.0); a host name then stands for the addresses the
policy's resolve section pins for it.

--ext-headers asks about IPv6 packets that carry extension headers
(hop-by-hop or destination options, routing) before their TCP, UDP or
ICMPv6 header. The stock Linux agent matches a rule's protocol in the IPv6
header's next-header field only, which then names the first extension
header: such a packet misses every rule with a protocol (and so with ports
or an ICMP type), and only rules without one decide it. qfw's nftables
backend matches the protocol after the extension headers, as without them.
Where the fate differs from that of the same packet without extension
headers, explain gives both.

A host name resolves as the policy's resolve section says. Where a verdict
depends on what a name resolves to, explain says it is possible, not
certain, and which rule could decide otherwise.`

const explainExamples = `  # May work reach the printer?
  qfw explain --from work --to 192.168.1.50:631

  # Which ports of a host may personal reach, over udp?
  qfw explain --from personal --to 192.0.2.1/udp

  # What of the LAN may work reach on port 80, part by part?
  qfw explain --from work --to 192.168.0.0/16:80

  # Every protocol to a range of addresses, as JSON.
  qfw explain --from work --to 10.0.0.1-10.0.0.20 --json

  # Ping, as ICMP echo request.
  qfw explain --from work --to 1.1.1.1/icmp --icmp-type 8

  # Does a deny rule hold against IPv6 packets with a hop-by-hop header?
  qfw explain --from work --to [2001:db8::1]:22 --ext-headers`

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
		Use:     "explain [DIR | FILE...] --from QUBE --to DEST[:PORT][/PROTO]",
		Short:   "Say what happens to a connection from a qube, and which rule decides",
		Long:    explainDoc,
		Example: explainExamples,
		Args:    cobra.ArbitraryArgs,
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
	p := query.FromBuild(b, f.now.t)
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
