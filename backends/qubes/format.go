package qubes

import (
	"strconv"
	"strings"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// FormatRule returns r as one Admin API line, byte for byte as dom0
// serialises it (api_rule), without a newline: the options in the order
// action, expire, dst4|dst6|dsthost, proto, specialtarget, dstports,
// icmptype, comment. Because dom0 returns its rules in this form,
// comparing lines from admin.vm.firewall.Get with FormatRule's output
// detects drift.
//
// r must be valid (see [ir.Rule.Validate]).
func FormatRule(r ir.Rule) string {
	var b strings.Builder
	b.WriteString("action=")
	b.WriteString(r.Action.String())
	if r.Expire != 0 {
		b.WriteString(" expire=")
		b.WriteString(strconv.FormatInt(r.Expire, 10))
	}
	writeMatch(&b, r.Match)
	if r.Comment != "" {
		b.WriteString(" comment=")
		b.WriteString(r.Comment)
	}
	return b.String()
}

// QubesDBRule returns r as dom0 writes it to QubesDB for the firewall qube:
// action, dst4|dst6|dsthost, proto, specialtarget, dstports and icmptype.
// Expiry and comment never reach QubesDB.
func QubesDBRule(r ir.Rule) string {
	var b strings.Builder
	b.WriteString("action=")
	b.WriteString(r.Action.String())
	writeMatch(&b, r.Match)
	return b.String()
}

// Payload returns the payload of admin.vm.firewall.Set for rules: one
// FormatRule line each, each ending in a newline.
func Payload(rules []ir.Rule) string {
	var b strings.Builder
	for _, r := range rules {
		b.WriteString(FormatRule(r))
		b.WriteByte('\n')
	}
	return b.String()
}

// writeMatch appends the options of m that API lines and QubesDB share, in
// dom0's order.
func writeMatch(b *strings.Builder, m ir.Match) {
	switch {
	case m.Dst.Host != "":
		b.WriteString(" dsthost=")
		b.WriteString(m.Dst.Host)
	case m.Dst.Family() == 4:
		// dom0 keeps 0.0.0.0/0 and ::/0: they restrict a rule to one family.
		b.WriteString(" dst4=")
		b.WriteString(m.Dst.Prefix.String())
	case m.Dst.Family() == 6:
		b.WriteString(" dst6=")
		b.WriteString(m.Dst.Prefix.String())
	}
	if m.Proto != ir.AnyProto {
		b.WriteString(" proto=")
		b.WriteString(m.Proto.String())
	}
	if m.DNS {
		b.WriteString(" specialtarget=dns")
	}
	if m.HasPorts {
		// Always LO-HI, also for a single port.
		b.WriteString(" dstports=")
		b.WriteString(strconv.Itoa(int(m.Ports.First)))
		b.WriteByte('-')
		b.WriteString(strconv.Itoa(int(m.Ports.Last)))
	}
	if m.HasICMPType {
		b.WriteString(" icmptype=")
		b.WriteString(strconv.Itoa(int(m.ICMPType)))
	}
}
