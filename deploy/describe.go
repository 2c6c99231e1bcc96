package deploy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/internal/workdir"
	"github.com/qfw-dev/qfw/policytest"
)

// describePacket says what a packet is, as in "tcp 445 to 192.168.1.10".
func describePacket(p eval.Packet) string { return DescribePackets(p, -1) }

// DescribePackets says what the packets like p are whose port (or ICMP
// type) runs up to last, as in "tcp 0-442 to 192.168.1.10"; -1 means p's.
func DescribePackets(p eval.Packet, last int) string {
	var b strings.Builder
	span := func(first int) string {
		if last <= first {
			return strconv.Itoa(first)
		}
		return strconv.Itoa(first) + "-" + strconv.Itoa(last)
	}
	switch p.Proto {
	case eval.ProtoTCP, eval.ProtoUDP:
		b.WriteString(protoName(p.Proto))
		b.WriteByte(' ')
		b.WriteString(span(int(p.Port)))
	case eval.ProtoICMP, eval.ProtoICMPv6:
		fmt.Fprintf(&b, "%s type %s", protoName(p.Proto), span(int(p.ICMPType)))
	default:
		fmt.Fprintf(&b, "protocol %d", p.Proto)
	}
	b.WriteString(" to ")
	switch {
	case !p.Dst.IsValid():
		fmt.Fprintf(&b, "an IPv%d address of %s", p.Family, p.Host)
	case p.Host != "":
		fmt.Fprintf(&b, "%s (%s)", p.Dst, p.Host)
	default:
		b.WriteString(p.Dst.String())
	}
	return b.String()
}

func protoName(p uint8) string {
	switch p {
	case eval.ProtoTCP:
		return "tcp"
	case eval.ProtoUDP:
		return "udp"
	case eval.ProtoICMP:
		return "icmp"
	case eval.ProtoICMPv6:
		return "icmpv6"
	}
	return "protocol " + strconv.Itoa(int(p))
}

// DescribeRule names a rule and where the policy says it, as in
// "deny.lan (names.cue:9:9)".
func DescribeRule(r *ir.Rule) string {
	if r.Origin.Name == "" {
		return "rule " + qubes.FormatRule(*r)
	}
	return fmt.Sprintf("%s (%s)", r.Origin, workdir.Pos(r.Origin.Pos))
}

// DescribeFate says why a packet met its fate at e: the deciding rule, the
// implicit drop or a blocked list, and whether a name could change it.
// With no enforcer, the packet goes nowhere.
func DescribeFate(e *policytest.Enforcer, p eval.Packet, r eval.Result) string {
	if e == nil {
		return "drop: it goes nowhere, as the qube has no netvm or no address of the destination's family"
	}
	list := e.List(p.IPFamily())
	var b strings.Builder
	b.WriteString(r.Action.String())
	switch {
	case r.Blocked >= 0:
		blocker := &list[r.Blocked]
		fmt.Fprintf(&b, ": %s names %s, which has no IPv%d address, so %s refuses the whole IPv%d list and drops everything",
			DescribeRule(blocker), blocker.Dst.Host, p.IPFamily(), e.Firewall, p.IPFamily())
	case r.Rule >= 0:
		fmt.Fprintf(&b, " by %s", DescribeRule(&list[r.Rule]))
	case e.Backend == ir.Mirage && p.IPFamily() == 6:
		b.WriteString(": the unikernel has no IPv6, and drops all IPv6 traffic")
	case e.Backend == ir.Mirage && p.Dst == e.Options.Self && r.Action == ir.Accept:
		b.WriteString(": this release sends DNS queries to its own address on to its netvm, whatever the rules")
	case e.Backend == ir.Mirage && p.Dst == e.Options.Self:
		b.WriteString(": the unikernel drops all traffic to its own address, whatever the rules")
	default:
		b.WriteString(": no rule matches, so the list's final drop applies")
	}
	if r.Possible >= 0 {
		fmt.Fprintf(&b, "; but %s may match first, depending on addresses qfw does not know (of a name, or of the upstream DNS servers)", DescribeRule(&list[r.Possible]))
	}
	if r.MayBlock >= 0 {
		blocker := &list[r.MayBlock]
		fmt.Fprintf(&b, "; but if %s has no IPv%d address, %s makes %s refuse the whole list", blocker.Dst.Host, p.IPFamily(), DescribeRule(blocker), e.Firewall)
	}
	return b.String()
}

// Failure says why a test failed: the packet, what was expected, and the
// fate it met.
func Failure(o *policytest.Outcome) string {
	t := o.Test
	head := fmt.Sprintf("%s to %s: expected %s", t.From, t.ToText, t.Expect)
	switch {
	case o.NoNetvm:
		return head + ", but the qube has no netvm, so its packets go nowhere"
	case o.Packets == 0:
		return head + ", but the qube can send no such packet: it has no address in the destination's family, or the destination resolves to none"
	case o.Enforcer == nil:
		return head + ", but the qube did not compile"
	}
	at := fmt.Sprintf("in %s (%s) %s gets %s", o.Enforcer.Firewall, o.Enforcer.Backend, describePacket(o.Packet), DescribeFate(o.Enforcer, o.Packet, o.Result))
	if o.Result.Action == t.Expect {
		// The verdict is right, but only for some resolutions of a name.
		return fmt.Sprintf("%s, and %s; where names decide, pin them in resolve", head, at)
	}
	return fmt.Sprintf("%s, but %s", head, at)
}
