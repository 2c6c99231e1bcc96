package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
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
	d, err := parseDest(f.to)
	if err != nil {
		return fmt.Errorf("--to %s: %w", f.to, err)
	}
	if f.icmpType.set && d.proto != ir.ICMP {
		return fmt.Errorf("--icmp-type is for --to DEST/icmp only, not %s", d.proto)
	}
	if f.extHeaders && (d.to.Family() == 4 || d.many() && d.first.Is4()) {
		return fmt.Errorf("--ext-headers is for IPv6 destinations only, not %s: IPv4 packets have no extension headers", d.hostString())
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
	if d.many() || d.proto == ir.AnyProto || f.json {
		return explainParts(w, prog, q, d, f)
	}
	probe := d.probe(f.icmpType)
	if f.extHeaders {
		fmt.Fprintf(w, "%s → %s, IPv6 packets with extension headers\n", q.Name, f.to)
	} else {
		fmt.Fprintf(w, "%s → %s\n", q.Name, f.to)
	}
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
		ext := false
		for k := range packets {
			if f.extHeaders && packets[k].IPFamily() == 6 {
				packets[k].ExtHeaders, ext = true, true
			}
		}
		explainPackets(w, e, packets, probe)
		explainUnresolved(w, e, packets)
		if ext {
			explainExtHeaders(w, e)
		}
	}
	return nil
}

// explainExtHeaders says how e's firewall qube reads IPv6 packets with
// extension headers.
func explainExtHeaders(w io.Writer, e *policytest.Enforcer) {
	switch e.Options.Semantics {
	case eval.LinuxAgent:
		fmt.Fprintf(w, "  the stock agent in %s matches a rule's protocol in the IPv6 header's next-header field only, which names the first extension header: these packets miss every rule with a protocol (qfw's nftables backend matches it after the extension headers)\n", e.Firewall)
	case eval.Nftables:
		fmt.Fprintf(w, "  qfw's nftables ruleset matches the protocol after the extension headers: these packets meet the fate they meet without them (the stock agent's rules with a protocol would miss them)\n")
	}
}

// explainUnresolved notes, for qfw's nftables backend, the allows to names
// without an address in a family of packets: such a rule matches nothing
// there, where the Linux agent would block the whole list, and a user
// reading why a packet is dropped should see that the allow did not count.
func explainUnresolved(w io.Writer, e *policytest.Enforcer, packets []eval.Packet) {
	if e.Options.Semantics != eval.Nftables {
		return
	}
	for _, fam := range []int{4, 6} {
		if !slices.ContainsFunc(packets, func(p eval.Packet) bool { return p.IPFamily() == fam }) {
			continue
		}
		for i := range e.List(fam) {
			r := &e.List(fam)[i]
			if r.Action != ir.Accept || r.Dst.Host == "" {
				continue
			}
			if addrs, known := eval.HostAddrs(e.Options.Resolver, r.Dst.Host, fam, r.Action); known && len(addrs) == 0 {
				fmt.Fprintf(w, "  note: %s names %s, which has no IPv%d address, so it matches nothing in IPv%d; the rest of the list stands\n",
					describeRule(r), r.Dst.Host, fam, fam)
			}
		}
	}
}

// explainLine is one line of explain's answer: packets to a stretch of
// addresses, of one protocol and a stretch of ports (or ICMP types), that
// meet the same fate.
type explainLine struct {
	pkt      eval.Packet // the first of them
	lastDst  netip.Addr  // the last address; pkt.Dst's if the same
	lastPort int         // the last port or type; -1 for pkt's alone
	res      eval.Result
	// plain is the fate of the packets without IPv6 extension headers:
	// res, unless pkt has them.
	plain eval.Result
}

// decide returns the fate of p at e, and that of p without IPv6 extension
// headers.
func decide(e *policytest.Enforcer, p eval.Packet) (res, plain eval.Result) {
	res = e.Eval(p)
	if !p.ExtHeaders || p.IPFamily() != 6 {
		return res, res
	}
	p.ExtHeaders = false
	return res, e.Eval(p)
}

// explainPackets prints the fate of packets at e, one line for each
// stretch of addresses and ports (or ICMP types) whose packets meet the
// same fate. The packets stand for every address of the destination and
// every port or type, unless probe fixes them.
func explainPackets(w io.Writer, e *policytest.Enforcer, packets []eval.Packet, probe policytest.Probe) {
	// First the ports of each destination, then the destinations.
	var lines []explainLine
	for i := 0; i < len(packets); {
		p := packets[i]
		r, plain := decide(e, p)
		j := i + 1
		for j < len(packets) && sameButPort(p, packets[j]) {
			if r2, plain2 := decide(e, packets[j]); r2 != r || plain2 != plain {
				break
			}
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
		lines = append(lines, explainLine{pkt: p, lastDst: p.Dst, lastPort: last, res: r, plain: plain})
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
		if l.plain != l.res {
			fmt.Fprintf(w, "      without extension headers: %s\n", describeFate(e, l.pkt, l.plain))
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
			if o.pkt.Proto == l.pkt.Proto && portOf(o.pkt) == portOf(l.pkt) && o.lastPort == l.lastPort && o.res == l.res && o.plain == l.plain && o.lastDst.Next() == l.pkt.Dst {
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
	return a.Dst == b.Dst && a.Family == b.Family && a.Host == b.Host && a.Proto == b.Proto && a.ExtHeaders == b.ExtHeaders
}

func portOf(p eval.Packet) int {
	if p.Proto == eval.ProtoICMP || p.Proto == eval.ProtoICMPv6 {
		return int(p.ICMPType)
	}
	return int(p.Port)
}

// dest is explain's --to: where a connection goes.
type dest struct {
	// to is the address, prefix or host name; the zero Dst for any and
	// for a range.
	to ir.Dst
	// first and last are the addresses of a prefix or a range, which
	// explain answers per part; invalid for one address, a name or any.
	first, last netip.Addr
	// proto is tcp, udp or icmp, or AnyProto for every protocol.
	proto ir.Proto
	// port is the destination port, 1 to 65535; 0 for every port.
	port uint16
}

// many reports whether d is a prefix or a range.
func (d dest) many() bool { return d.first.IsValid() }

// parseDest parses DEST[:PORT][/PROTO], where DEST is "any", one IPv4 or
// IPv6 address, a prefix, a range FIRST-LAST of one family, or a host
// name (an IPv6 address, prefix or range in brackets when a port
// follows). It takes each part as written, or refuses it: a prefix with
// host bits, an address with a zone or IPv4 mapping, a range backwards or
// across families, port 0 or a port out of range, a protocol other than
// tcp, udp, icmp and any. Without a protocol, a prefix or range without a
// port stands for every protocol, and the rest for tcp.
func parseDest(s string) (dest, error) {
	d := dest{proto: ir.TCP}
	if s == "" {
		return d, errors.New("empty destination; want DEST[:PORT][/PROTO]")
	}
	protoGiven := false
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		// A prefix's length follows a "/" too: a protocol starts with a
		// letter.
		switch suffix := s[i+1:]; {
		case suffix == "":
			return d, errors.New(`no protocol after "/": want tcp, udp, icmp or any`)
		case suffix == "tcp":
		case suffix == "udp":
			d.proto = ir.UDP
		case suffix == "icmp":
			d.proto = ir.ICMP
		case suffix == "any":
			d.proto = ir.AnyProto
		case ('a' <= suffix[0] && suffix[0] <= 'z') || ('A' <= suffix[0] && suffix[0] <= 'Z'):
			return d, fmt.Errorf("unknown protocol %q: want tcp, udp, icmp or any", suffix)
		}
		if d.proto != ir.TCP || s[i+1:] == "tcp" {
			s, protoGiven = s[:i], true
		}
	}
	host, port, hasPort := s, "", false
	bracketed := strings.HasPrefix(s, "[")
	switch {
	case bracketed:
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return d, errors.New("missing ] after the IPv6 address")
		}
		host, port = s[1:end], s[end+1:]
		if port != "" && !strings.HasPrefix(port, ":") {
			return d, errors.New("want [IPV6-ADDRESS]:PORT")
		}
		port, hasPort = strings.CutPrefix(port, ":")
	case strings.Count(s, ":") == 1:
		// More colons make an IPv6 address, whose port needs brackets.
		host, port, hasPort = strings.Cut(s, ":")
	}
	if host == "" {
		return d, errors.New("no address or host name")
	}
	if err := d.parseHost(host); err != nil {
		return d, err
	}
	if bracketed && (d.to.IsAny() && !d.many() || d.to.Host != "" || d.first.IsValid() && d.first.Is4() || d.to.Family() == 4) {
		return d, errors.New("brackets hold an IPv6 address, prefix or range only")
	}
	if !protoGiven && !hasPort && d.many() {
		d.proto = ir.AnyProto
	}
	if !hasPort {
		return d, nil
	}
	switch d.proto {
	case ir.ICMP:
		return d, errors.New("icmp has no ports; give the ICMP type with --icmp-type")
	case ir.AnyProto:
		return d, errors.New("a port goes with tcp or udp, not with every protocol")
	}
	n, err := strconv.ParseUint(port, 10, 16)
	switch {
	case port == "":
		return d, errors.New(`no port after ":"`)
	case err != nil || port[0] == '0' && port != "0":
		return d, fmt.Errorf("port %q: want a number from 1 to 65535", port)
	case n == 0:
		return d, errors.New("port 0: no connection goes to port 0; want a port from 1 to 65535")
	}
	d.port = uint16(n)
	return d, nil
}

// parseHost sets d's destination from host: "any", an address, a range,
// a prefix or a host name.
func (d *dest) parseHost(host string) error {
	plain := func(s string) (netip.Addr, bool, error) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return a, false, nil
		}
		if a.Zone() != "" || a.Is4In6() {
			return a, true, errors.New("want a plain IPv4 or IPv6 address, without zone or IPv4 mapping")
		}
		return a, true, nil
	}
	if first, last, ok := strings.Cut(host, "-"); ok {
		// A host name may hold a "-" too: a range starts with an address.
		a, isAddr, err := plain(first)
		if err != nil {
			return err
		}
		if isAddr {
			b, isAddr, err := plain(last)
			switch {
			case err != nil:
				return err
			case !isAddr:
				return fmt.Errorf("range %q: %q is not an IP address; want FIRST-LAST, two addresses of one family", host, last)
			case a.Is4() != b.Is4():
				return fmt.Errorf("range %q: %s and %s are of different families", host, a, b)
			case b.Less(a):
				return fmt.Errorf("range %q: %s comes after %s; want FIRST-LAST", host, a, b)
			}
			d.first, d.last = a, b
			return nil
		}
	}
	a, isAddr, err := plain(host)
	switch {
	case err != nil:
		return err
	case host == "any":
		// Every destination: the zero Dst.
		return nil
	case isAddr:
		d.to = ir.Dst{Prefix: netip.PrefixFrom(a, a.BitLen())}
		return nil
	}
	to, err := ir.ParseDst(host)
	if err != nil {
		return err
	}
	d.to = to
	if to.Prefix.IsValid() {
		lo, hi := space.PrefixRange(to.Prefix)
		d.first, d.last = lo.Addr(to.Prefix.Addr().Is4()), hi.Addr(to.Prefix.Addr().Is4())
	}
	return nil
}

// hostString returns d's destination without port or protocol.
func (d dest) hostString() string {
	switch {
	case d.to.Prefix.IsValid() || d.to.Host != "":
		return d.to.String()
	case d.many():
		return d.first.String() + "-" + d.last.String()
	}
	return "any"
}

// String formats d as parseDest reads it back.
func (d dest) String() string {
	host := d.hostString()
	v6 := d.to.Family() == 6 || d.many() && d.first.Is6()
	var b strings.Builder
	switch {
	case d.port == 0:
		b.WriteString(host)
	case v6:
		fmt.Fprintf(&b, "[%s]:%d", host, d.port)
	default:
		fmt.Fprintf(&b, "%s:%d", host, d.port)
	}
	switch {
	case d.proto == ir.AnyProto && d.many():
		// Every protocol, as a prefix or range without one says.
	case d.proto == ir.AnyProto:
		b.WriteString("/any")
	case d.proto != ir.TCP || d.many() && d.port == 0:
		b.WriteString("/" + d.proto.String())
	}
	return b.String()
}

// probe returns the packets d stands for, of the ICMP type t if set.
func (d dest) probe(t icmpTypeValue) policytest.Probe {
	p := policytest.Probe{To: d.to, Protos: []ir.Proto{d.proto}, HasPort: d.port != 0, Port: d.port}
	p.ICMPv6 = d.to.Family() == 6
	p.HasICMPType, p.ICMPType = t.set, t.n
	return p
}

// icmpTypeValue is explain's --icmp-type.
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
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil || s[0] == '0' && s != "0" {
		return errors.New("want an ICMP type from 0 to 255")
	}
	v.set, v.n = true, uint8(n)
	return nil
}

func (v *icmpTypeValue) Type() string { return "TYPE" }

// enforcedLine returns r as e's firewall qube reads it: as dom0 writes it
// into QubesDB, in the unikernel's dialect for the unikernel.
func enforcedLine(e *policytest.Enforcer, r ir.Rule) string {
	if e.Backend == ir.Mirage {
		return mirage.FormatRule(r)
	}
	return qubes.FormatRule(r)
}
