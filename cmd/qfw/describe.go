package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/policytest"
)

// describePacket says what a packet is, as in "tcp 445 to 192.168.1.10".
func describePacket(p eval.Packet) string {
	var b strings.Builder
	switch p.Proto {
	case eval.ProtoTCP, eval.ProtoUDP:
		b.WriteString(protoName(p.Proto))
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(int(p.Port)))
	case eval.ProtoICMP, eval.ProtoICMPv6:
		fmt.Fprintf(&b, "%s type %d", protoName(p.Proto), p.ICMPType)
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

// describeRule names a rule and where the policy says it, as in
// "deny.lan (names.cue:9:9)".
func describeRule(r *ir.Rule) string {
	if r.Origin.Name == "" {
		return "rule " + qubes.FormatRule(*r)
	}
	return fmt.Sprintf("%s (%s)", r.Origin, relPos(r.Origin.Pos))
}

// describeFate says why a packet met its fate at e: the deciding rule, the
// implicit drop or a blocked list, and whether a name could change it.
func describeFate(e *policytest.Enforcer, p eval.Packet, r eval.Result) string {
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
			describeRule(blocker), blocker.Dst.Host, p.IPFamily(), e.Firewall, p.IPFamily())
	case r.Rule >= 0:
		fmt.Fprintf(&b, " by %s", describeRule(&list[r.Rule]))
	default:
		b.WriteString(" by the final drop: no rule matches")
	}
	if r.Possible >= 0 {
		fmt.Fprintf(&b, "; but %s may match first, depending on what a name resolves to", describeRule(&list[r.Possible]))
	}
	fmt.Fprintf(&b, " (in %s, %s)", e.Firewall, e.Backend)
	return b.String()
}
