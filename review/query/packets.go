package query

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"slices"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/space"
	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/policytest"
)

// PacketExplanation is explain's answer for one address, a host name or
// any, and one protocol: at each firewall qube that enforces the qube's
// rules, the fate of the packets asked about, a line for each stretch of
// ports (or ICMP types) and addresses whose packets meet the same fate.
type PacketExplanation struct {
	from string
	q    Question
	// at holds the answer of each firewall qube; none if the qube has no
	// netvm.
	at []packetsAt
}

// packetsAt is the fate of the packets asked about at one firewall qube.
type packetsAt struct {
	e *policytest.Enforcer
	// lines are the stretches of packets; none if the qube has no
	// address in the destination's family.
	lines []packetLine
	// unresolved are the allows that match nothing in a family of the
	// packets, as they name a host without an address in it.
	unresolved []familyRule
	// ext says some of the packets carry IPv6 extension headers.
	ext bool
}

// familyRule is a rule of the list of one address family.
type familyRule struct {
	rule   *ir.Rule
	family int
}

// packetLine is one line of an answer per packet: packets to a stretch
// of addresses, of one protocol and a stretch of ports (or ICMP types),
// that meet the same fate.
type packetLine struct {
	pkt      eval.Packet // the first of them
	lastDst  netip.Addr  // the last address; pkt.Dst's if the same
	lastPort int         // the last port or type; -1 for pkt's alone
	res      eval.Result
	// plain is the fate of the packets without IPv6 extension headers:
	// res, unless pkt has them.
	plain eval.Result
}

// ExplainPackets answers q for the packets from the qube from of p,
// packet by packet.
func ExplainPackets(p *Policy, from *ir.Qube, q Question) *PacketExplanation {
	x := &PacketExplanation{from: from.Name, q: q}
	resolver := eval.Table(p.Program.Resolve)
	probe := q.probe()
	es := p.enforcers(from, resolver)
	for i := range es {
		e := &es[i]
		at := packetsAt{e: e}
		packets := e.Packets(probe, resolver)
		for k := range packets {
			if q.ExtHeaders && packets[k].IPFamily() == 6 {
				packets[k].ExtHeaders, at.ext = true, true
			}
		}
		at.lines = packetLines(e, packets, probe)
		at.unresolved = unresolved(e, packets)
		x.at = append(x.at, at)
	}
	return x
}

// WriteText writes x as qfw explain prints it.
func (x *PacketExplanation) WriteText(w io.Writer) error {
	b := bufio.NewWriter(w)
	writeHead(b, x.from, &x.q, len(x.at) == 0)
	for _, at := range x.at {
		e := at.e
		fmt.Fprintf(b, "%s (%s):\n", e.Firewall, e.Backend)
		if len(at.lines) == 0 {
			fmt.Fprintf(b, "  no packet: %s has no address in the destination's family\n", x.from)
		}
		for _, l := range at.lines {
			desc := deploy.DescribePackets(l.pkt, l.lastPort)
			if l.lastDst != l.pkt.Dst {
				desc += "-" + l.lastDst.String()
			}
			fmt.Fprintf(b, "  %s: %s\n", desc, deploy.DescribeFate(e, l.pkt, l.res))
			if l.res.Rule >= 0 && l.res.Blocked < 0 {
				fmt.Fprintf(b, "      %s\n", enforcedLine(e, e.List(l.pkt.IPFamily())[l.res.Rule]))
			}
			if l.plain != l.res {
				fmt.Fprintf(b, "      without extension headers: %s\n", deploy.DescribeFate(e, l.pkt, l.plain))
			}
		}
		for _, u := range at.unresolved {
			fmt.Fprintf(b, "  note: %s names %s, which has no IPv%d address, so it matches nothing in IPv%d; the rest of the list stands\n",
				deploy.DescribeRule(u.rule), u.rule.Dst.Host, u.family, u.family)
		}
		if at.ext {
			writeExtHeaders(b, e)
		}
	}
	return b.Flush()
}

// writeHead writes the head of explain's answer to q for the packets from
// the qube from: the question, and where they go if from has no netvm.
func writeHead(w io.Writer, from string, q *Question, noNetvm bool) {
	if q.ExtHeaders {
		fmt.Fprintf(w, "%s → %s, IPv6 packets with extension headers\n", from, q.Text)
	} else {
		fmt.Fprintf(w, "%s → %s\n", from, q.Text)
	}
	if noNetvm {
		fmt.Fprintf(w, "  drop: %s has no netvm, so its packets go nowhere\n", from)
	}
}

// writeExtHeaders says how e's firewall qube reads IPv6 packets with
// extension headers.
func writeExtHeaders(w io.Writer, e *policytest.Enforcer) {
	switch e.Options.Semantics {
	case eval.LinuxAgent:
		fmt.Fprintf(w, "  the stock agent in %s matches a rule's protocol in the IPv6 header's next-header field only, which names the first extension header: these packets miss every rule with a protocol (qfw's nftables backend matches it after the extension headers)\n", e.Firewall)
	case eval.Nftables:
		fmt.Fprintf(w, "  qfw's nftables ruleset matches the protocol after the extension headers: these packets meet the fate they meet without them (the stock agent's rules with a protocol would miss them)\n")
	}
}

// unresolved returns, for qfw's nftables backend, the allows to names
// without an address in a family of packets: such a rule matches nothing
// there, where the Linux agent would block the whole list, and a user
// reading why a packet is dropped should see that the allow did not count.
func unresolved(e *policytest.Enforcer, packets []eval.Packet) []familyRule {
	if e.Options.Semantics != eval.Nftables {
		return nil
	}
	var out []familyRule
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
				out = append(out, familyRule{rule: r, family: fam})
			}
		}
	}
	return out
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

// packetLines returns the fate of packets at e, one line for each stretch
// of addresses and ports (or ICMP types) whose packets meet the same
// fate. The packets stand for every address of the destination and every
// port or type, unless probe fixes them.
func packetLines(e *policytest.Enforcer, packets []eval.Packet, probe policytest.Probe) []packetLine {
	// First the ports of each destination, then the destinations.
	var lines []packetLine
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
		lines = append(lines, packetLine{pkt: p, lastDst: p.Dst, lastPort: last, res: r, plain: plain})
		i = j
	}
	// Only "any" spans many addresses: a prefix is not a destination here.
	if probe.To.IsAny() {
		lines = mergeStretches(lines)
	}
	return lines
}

// mergeStretches gives each line the stretch of addresses up to the next
// destination tried, in the whole of its family, and merges neighbouring
// stretches that say the same.
func mergeStretches(lines []packetLine) []packetLine {
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
	var out []packetLine
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

// sameButPort reports whether a and b differ in their port or ICMP type
// at most.
func sameButPort(a, b eval.Packet) bool {
	return a.Dst == b.Dst && a.Family == b.Family && a.Host == b.Host && a.Proto == b.Proto && a.ExtHeaders == b.ExtHeaders
}

// portOf returns p's port, or its ICMP type.
func portOf(p eval.Packet) int {
	if p.Proto == eval.ProtoICMP || p.Proto == eval.ProtoICMPv6 {
		return int(p.ICMPType)
	}
	return int(p.Port)
}

// enforcedLine returns r as e's firewall qube reads it: as dom0 writes it
// into QubesDB, in the unikernel's dialect for the unikernel.
func enforcedLine(e *policytest.Enforcer, r ir.Rule) string {
	if e.Backend == ir.Mirage {
		return mirage.FormatRule(r)
	}
	return qubes.FormatRule(r)
}
