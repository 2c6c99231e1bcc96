package qubes

import (
	"errors"
	"fmt"
	"strings"

	"github.com/qfw-dev/qfw/compiler/ir"
)

const commentKey = "comment="

// ParseRule parses one Admin API line as dom0 does (from_api_string):
// everything after the first "comment=" is the comment; the options before it
// are key=value tokens separated by single spaces, in any order, each at most
// once; dst4, dst6 and dstname are aliases of dsthost, and the value alone
// decides the family, so dst4=2001:db8::1 is an IPv6 rule.
//
// ParseRule is stricter than dom0 wherever dom0 stores what the firewall
// agents mishandle: values go through [ir.ParseDst], [ir.ParsePortRange]
// and [ir.CheckComment], numbers must be written without leading zeros, and
// the rule must pass [ir.Rule.Validate]. It also takes the line as it is:
// dom0 strips surrounding spaces and accepts "comment=" glued to the
// previous option, ParseRule does neither.
//
// The rule's Origin is zero.
func ParseRule(line string) (ir.Rule, error) {
	var r ir.Rule
	opts := line
	if i := strings.Index(line, commentKey); i >= 0 {
		if i > 0 && line[i-1] != ' ' {
			return ir.Rule{}, errors.New(`"comment=" must follow a space`)
		}
		opts = line[:max(i-1, 0)]
		comment := line[i+len(commentKey):]
		if strings.Contains(comment, "=") {
			return ir.Rule{}, fmt.Errorf(`comment %q contains "="; comment must be the last option and cannot contain "="`, comment)
		}
		if err := ir.CheckComment(comment); err != nil {
			return ir.Rule{}, err
		}
		r.Comment = comment
	}
	if opts == "" {
		return ir.Rule{}, errNoAction
	}

	// Check the keys first and the values after, in the order dom0 does.
	type option struct{ key, value string }
	var options []option
	seen := make(map[string]bool)
	for tok := range strings.SplitSeq(opts, " ") {
		if tok == "" {
			return ir.Rule{}, errors.New("empty option; options are separated by single spaces")
		}
		key, value, ok := strings.Cut(tok, "=")
		if !ok {
			return ir.Rule{}, fmt.Errorf(`option %q has no "="; want key=value`, tok)
		}
		key, ok = optionKey(key)
		if !ok {
			return ir.Rule{}, fmt.Errorf("unknown firewall option %q; want action, proto, dsthost (or dst4, dst6, dstname), dstports, icmptype, specialtarget, expire or comment", key)
		}
		if seen[key] {
			return ir.Rule{}, fmt.Errorf("option %q already set", key)
		}
		seen[key] = true
		options = append(options, option{key, value})
	}

	for _, o := range options {
		var err error
		switch o.key {
		case "action":
			r.Action, err = ir.ParseAction(o.value)
		case "proto":
			r.Proto, err = ir.ParseProto(o.value)
		case "dsthost":
			r.Dst, err = ir.ParseDst(o.value)
		case "dstports":
			r.HasPorts = true
			r.Ports, err = ir.ParsePortRange(o.value)
		case "icmptype":
			r.HasICMPType = true
			var n int64
			n, err = ir.ParseDecimal(fmt.Sprintf("icmptype %q", o.value), o.value, 0, 255)
			r.ICMPType = uint8(n)
		case "specialtarget":
			if o.value != "dns" {
				err = fmt.Errorf("invalid specialtarget %q; want dns", o.value)
			}
			r.DNS = true
		case "expire":
			// 0 would mean "never" in the IR but "expired in 1970" to dom0.
			r.Expire, err = ir.ParseDecimal(fmt.Sprintf("expire %q", o.value), o.value, 1, ir.MaxExpire)
		}
		if err != nil {
			return ir.Rule{}, err
		}
	}
	if r.Action == 0 {
		return ir.Rule{}, errNoAction
	}
	if err := r.Validate(); err != nil {
		return ir.Rule{}, err
	}
	return r, nil
}

// optionKey returns the option key as dom0 files it, dst4, dst6 and dstname
// as dsthost, and whether dom0 knows it; comment is cut off the line before
// the options are read.
func optionKey(key string) (string, bool) {
	switch key {
	case "dst4", "dst6", "dstname":
		return "dsthost", true
	case "action", "proto", "dsthost", "dstports", "icmptype", "specialtarget", "expire":
		return key, true
	}
	return key, false
}

var errNoAction = errors.New("rule has no action; want action=accept or action=drop")
