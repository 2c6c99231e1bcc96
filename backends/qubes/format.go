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
	// Measured first, the line is written into one allocation: compile
	// formats every rule.
	b.Grow(RuleLen(r))
	writeRule(&b, r)
	return b.String()
}

// writeRule writes FormatRule(r) to b.
func writeRule(b *strings.Builder, r ir.Rule) {
	b.WriteString("action=")
	b.WriteString(r.Action.String())
	if r.Expire != 0 {
		var buf [20]byte
		b.WriteString(" expire=")
		b.Write(strconv.AppendInt(buf[:0], r.Expire, 10))
	}
	ir.WriteMatch(b, r.Match)
	if r.Comment != "" {
		b.WriteString(" comment=")
		b.WriteString(r.Comment)
	}
}

// RuleLen returns len(FormatRule(r)) without building the line, so that
// measuring a list against qubesd's limit costs no allocation.
func RuleLen(r ir.Rule) int {
	n := len("action=") + len(r.Action.String()) + ir.MatchLen(r.Match)
	if r.Expire != 0 {
		n += len(" expire=") + ir.DigitsLen(r.Expire)
	}
	if r.Comment != "" {
		n += len(" comment=") + len(r.Comment)
	}
	return n
}

// PayloadLen returns len(Payload(rules)) without building the payload.
func PayloadLen(rules []ir.Rule) int {
	n := 0
	for i := range rules {
		n += RuleLen(rules[i]) + 1
	}
	return n
}

// Payload returns the payload of admin.vm.firewall.Set for rules: one
// FormatRule line each, each ending in a newline. The lines are written
// straight into the payload, measured once.
func Payload(rules []ir.Rule) string {
	var b strings.Builder
	b.Grow(PayloadLen(rules))
	for i := range rules {
		writeRule(&b, rules[i])
		b.WriteByte('\n')
	}
	return b.String()
}
