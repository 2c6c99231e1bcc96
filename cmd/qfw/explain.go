package main

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/space"
	"github.com/qfw-dev/qfw/policytest"
)

const explainDoc = `explain says what happens to a connection from a qube: for the firewall qube
that enforces the qube's rules, its verdict, the rule that decides it with
that rule's position in the policy, and the rule as dom0 stores it (for a
unikernel firewall's clients, as its QubesDB entry, which it reads).

DEST is an address, a host name or "any", with an optional port and
protocol: 192.0.2.1, github.com:22, [2001:db8::1]:443/tcp, 10.0.0.1/icmp.
The protocol is tcp unless given; without a port, every port is considered
and the answer is given per range of ports that share it (likewise ICMP
types without --icmp-type, which is an ICMPv6 type for an IPv6 address
and an ICMP type otherwise).

A host name resolves as the policy's resolve section says. Where a verdict
depends on what a name resolves to, explain says it is possible, not
certain, and which rule could decide otherwise.`

const explainExamples = `  # May work reach the printer?
  qfw explain --from work --to 192.168.1.50:631

  # Which ports of a host may personal reach, over udp?
  qfw explain --from personal --to 192.0.2.1/udp

  # Ping, as ICMP echo request.
  qfw explain --from work --to 1.1.1.1/icmp --icmp-type 8`

type explainFlags struct {
	policyFlags
	from     string
	to       string
	icmpType int
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
	cmd.Flags().IntVar(&f.icmpType, "icmp-type", -1, "the ICMP `TYPE`, with /icmp")
	// -1 stands for none given; help need not show it.
	cmd.Flags().Lookup("icmp-type").DefValue = "0"
	cmd.MarkFlagRequired("from")
	cmd.MarkFlagRequired("to")
	return cmd
}

func runExplain(cmd *cobra.Command, args []string, f *explainFlags) error {
	probe, err := parseDest(f.to, f.icmpType)
	if err != nil {
		return fmt.Errorf("--to %s: %w", f.to, err)
	}
	res, err := build(cmd, args, &f.policyFlags, false)
	if err != nil {
		return err
	}
	prog := res.Program
	var q *ir.Qube
	for i := range prog.Qubes {
		if prog.Qubes[i].Name == f.from {
			q = &prog.Qubes[i]
		}
	}
	if q == nil {
		return fmt.Errorf("--from %s: no such qube in the policy", f.from)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "%s → %s\n", q.Name, f.to)
	resolver := eval.Table(prog.Resolve)
	enforcers := policytest.Enforcers(prog, q, resolver, f.now.t.Unix())
	if len(enforcers) == 0 {
		fmt.Fprintf(w, "  drop: %s has no netvm, so its packets go nowhere\n", q.Name)
		return nil
	}
	for i := range enforcers {
		e := &enforcers[i]
		fmt.Fprintf(w, "%s (%s):\n", e.Firewall, e.Backend)
		packets := e.Packets(probe, resolver)
		if len(packets) == 0 {
			fmt.Fprintf(w, "  no packet: %s has no address in the destination's family\n", q.Name)
		}
		explainPackets(w, e, packets, probe)
	}
	return nil
}

// explainLine is one line of explain's answer: packets to a stretch of
// addresses, of one protocol and a stretch of ports (or ICMP types), that
// meet the same fate.
type explainLine struct {
	pkt      eval.Packet // the first of them
	lastDst  netip.Addr  // the last address; pkt.Dst's if the same
	lastPort int         // the last port or type; -1 for pkt's alone
	res      eval.Result
}

// explainPackets prints the fate of packets at e, one line for each
// stretch of addresses and ports (or ICMP types) whose packets meet the
// same fate. The packets stand for every address of the destination and
// every port or type, unless probe fixes them.
func explainPackets(w io.Writer, e *policytest.Enforcer, packets []eval.Packet, probe policytest.Probe) {
	// First the ports of each destination, then the destinations.
	var lines []explainLine
	for i := 0; i < len(packets); {
		p, r := packets[i], e.Eval(packets[i])
		j := i + 1
		for j < len(packets) && sameButPort(p, packets[j]) && e.Eval(packets[j]) == r {
			j++
		}
		last := 65535
		if p.Proto == eval.ProtoICMP || p.Proto == eval.ProtoICMPv6 {
			last = 255
		}
		if j < len(packets) && sameButPort(p, packets[j]) {
			last = portOf(packets[j]) - 1
		}
		if portOf(p) == last || probe.HasPort || probe.HasICMPType {
			last = -1
		}
		lines = append(lines, explainLine{pkt: p, lastDst: p.Dst, lastPort: last, res: r})
		i = j
	}
	// Only "any" spans many addresses: a prefix is not a destination here.
	if probe.To.IsAny() {
		lines = mergeStretches(lines)
	}
	for _, l := range lines {
		dst := l.pkt
		desc := describePackets(dst, l.lastPort)
		if l.lastDst != l.pkt.Dst {
			desc += "-" + l.lastDst.String()
		}
		fmt.Fprintf(w, "  %s: %s\n", desc, describeFate(e, l.pkt, l.res))
		if l.res.Rule >= 0 && l.res.Blocked < 0 {
			fmt.Fprintf(w, "      %s\n", enforcedLine(e, e.List(l.pkt.IPFamily())[l.res.Rule]))
		}
	}
}

// mergeStretches gives each line the stretch of addresses up to the next
// destination tried, in the whole of its family, and merges neighbouring
// stretches that say the same.
func mergeStretches(lines []explainLine) []explainLine {
	// The destinations tried, in order, and where each stretch ends.
	var dsts []netip.Addr
	for _, l := range lines {
		if len(dsts) == 0 || dsts[len(dsts)-1] != l.pkt.Dst {
			dsts = append(dsts, l.pkt.Dst)
		}
	}
	end := map[netip.Addr]netip.Addr{}
	for k, d := range dsts {
		if k+1 < len(dsts) && dsts[k+1].Is4() == d.Is4() {
			end[d] = dsts[k+1].Prev()
			continue
		}
		pfx := netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		if d.Is4() {
			pfx = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		}
		_, last := space.PrefixRange(pfx)
		end[d] = last.Addr(d.Is4())
	}
	var out []explainLine
	for _, l := range lines {
		l.lastDst = end[l.pkt.Dst]
		merged := false
		for k := len(out) - 1; k >= 0; k-- {
			o := &out[k]
			if o.pkt.Proto == l.pkt.Proto && portOf(o.pkt) == portOf(l.pkt) && o.lastPort == l.lastPort && o.res == l.res && o.lastDst.Next() == l.pkt.Dst {
				o.lastDst, merged = l.lastDst, true
				break
			}
		}
		if !merged {
			out = append(out, l)
		}
	}
	return out
}

func sameButPort(a, b eval.Packet) bool {
	return a.Dst == b.Dst && a.Family == b.Family && a.Host == b.Host && a.Proto == b.Proto
}

func portOf(p eval.Packet) int {
	if p.Proto == eval.ProtoICMP || p.Proto == eval.ProtoICMPv6 {
		return int(p.ICMPType)
	}
	return int(p.Port)
}

// parseDest parses DEST[:PORT][/PROTO] into the packets it stands for.
func parseDest(s string, icmpType int) (policytest.Probe, error) {
	var p policytest.Probe
	proto := ir.TCP
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		switch s[i+1:] {
		case "tcp":
		case "udp":
			proto = ir.UDP
		case "icmp":
			proto = ir.ICMP
		default:
			if suffix := s[i+1:]; suffix != "" && strings.Trim(suffix, "0123456789:") == "" {
				return p, fmt.Errorf("want one address or a host name, not a prefix")
			}
			return p, fmt.Errorf("unknown protocol %q: want tcp, udp or icmp", s[i+1:])
		}
		s = s[:i]
	}
	p.Protos = []ir.Proto{proto}
	host, port := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.Index(s, "]")
		if end < 0 {
			return p, fmt.Errorf("missing ] after the IPv6 address")
		}
		host, port = s[1:end], strings.TrimPrefix(s[end+1:], ":")
		if rest := s[end+1:]; rest != "" && !strings.HasPrefix(rest, ":") {
			return p, fmt.Errorf("want [ADDRESS]:PORT")
		}
	case strings.Count(s, ":") == 1:
		host, port, _ = strings.Cut(s, ":")
	}
	switch a, err := netip.ParseAddr(host); {
	case host == "any":
		// Every destination: the zero Dst.
	case err == nil && (a.Zone() != "" || a.Is4In6()):
		return p, fmt.Errorf("%s: want a plain IPv4 or IPv6 address, without zone or IPv4 mapping", host)
	case err == nil:
		p.To = ir.Dst{Prefix: netip.PrefixFrom(a, a.BitLen())}
		p.ICMPv6 = a.Is6()
	default:
		d, err := ir.ParseDst(host)
		if err != nil {
			return p, err
		}
		if d.Host == "" {
			return p, fmt.Errorf("want one address or a host name, not a prefix")
		}
		p.To = d
	}
	if strings.HasSuffix(s, ":") {
		return p, fmt.Errorf("empty port after %q", s)
	}
	if port != "" {
		if proto == ir.ICMP {
			return p, fmt.Errorf("icmp has no ports; use --icmp-type")
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return p, fmt.Errorf("port %q is not a number from 0 to 65535", port)
		}
		p.HasPort, p.Port = true, uint16(n)
	}
	if icmpType >= 0 {
		if proto != ir.ICMP || icmpType > 255 {
			return p, fmt.Errorf("--icmp-type takes 0 to 255, with /icmp")
		}
		p.HasICMPType, p.ICMPType = true, uint8(icmpType)
	}
	return p, nil
}

// enforcedLine returns r as e's firewall qube reads it: as dom0 writes it
// into QubesDB, in the unikernel's dialect for the unikernel.
func enforcedLine(e *policytest.Enforcer, r ir.Rule) string {
	if e.Backend == ir.Mirage {
		return mirage.FormatRule(r)
	}
	return qubes.FormatRule(r)
}
