package qubes

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// ParseQubesDBList reads the rule list of the client with address ip as a
// firewall qube finds it in its QubesDB: the keys under
// /qubes-firewall/<ip>/, each given as an Entry that writes it, in any
// order. It is the inverse of [Entries]: what they leave in QubesDB parses
// to the rules written, without expiry and comment, followed by the policy.
//
// It takes what the Linux agent takes, and no more: the keys are policy
// and rule numbers of four digits (gaps are normal; the rules are taken in
// the numbers' order), a rule has only the options dom0 writes for firewall
// qubes (action, proto, dst4, dst6, dsthost, dstports, specialtarget,
// icmptype), a destination of the other family is refused, and the policy,
// accept or drop, is appended as the final rule. Each rule must pass
// [ParseRule]. An error names the key and says what is wrong with it; the
// list is then not to be enforced at all: the client's traffic of ip's
// family must be refused instead.
func ParseQubesDBList(ip netip.Addr, entries []Entry) ([]ir.Rule, error) {
	if !ip.IsValid() || ip.Zone() != "" || ip.Is4In6() {
		return nil, fmt.Errorf("client address %q is not an IPv4 or IPv6 address", ip)
	}
	dir := ir.QubesDBDir(ip) + "/"
	type numbered struct {
		key, value string
	}
	var (
		rules     []numbered
		policy    string
		hasPolicy bool
		seen      = make(map[string]bool, len(entries))
	)
	for _, e := range entries {
		if e.Op != Write {
			return nil, fmt.Errorf("%s: %s is not a key; want the keys of the list as written", e.Path, e.Op)
		}
		name, ok := strings.CutPrefix(e.Path, dir)
		if !ok {
			return nil, fmt.Errorf("%s: not in the list of %s, which is under %s", e.Path, ip, dir)
		}
		if seen[name] {
			return nil, fmt.Errorf("%s: given twice", e.Path)
		}
		seen[name] = true
		switch {
		case name == "policy":
			policy, hasPolicy = e.Value, true
		case isRuleNumber(name):
			rules = append(rules, numbered{name, e.Value})
		default:
			return nil, fmt.Errorf("%s: unknown key %q; want policy or a rule number of four digits such as 0000", e.Path, name)
		}
	}
	if !hasPolicy {
		return nil, fmt.Errorf("%spolicy: missing; dom0 writes it with every list", dir)
	}
	var final ir.Action
	switch policy {
	case "accept":
		final = ir.Accept
	case "drop":
		final = ir.Drop
	default:
		return nil, fmt.Errorf("%spolicy: %q; want accept or drop", dir, policy)
	}
	// Four digits each: the order of the strings is that of the numbers.
	slices.SortFunc(rules, func(a, b numbered) int { return strings.Compare(a.key, b.key) })
	out := make([]ir.Rule, 0, len(rules)+1)
	fam := family(ip)
	for _, n := range rules {
		r, err := parseQubesDBRule(n.value, fam)
		if err != nil {
			return nil, fmt.Errorf("%s%s %q: %w", dir, n.key, n.value, err)
		}
		out = append(out, r)
	}
	return append(out, ir.Rule{Action: final}), nil
}

// isRuleNumber reports whether name is a rule number as dom0 writes it:
// exactly four decimal digits (the Linux agent takes no other, so a list of
// over 10,000 rules cannot reach a firewall qube).
func isRuleNumber(name string) bool {
	if len(name) != 4 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < '0' || name[i] > '9' {
			return false
		}
	}
	return true
}

// qubesDBOptions are the options dom0 writes into a firewall qube's
// QubesDB (Rule.rule): expire and comment stay in dom0, and dstname is
// never written.
var qubesDBOptions = []string{"action", "proto", "dst4", "dst6", "dsthost", "dstports", "specialtarget", "icmptype"}

// parseQubesDBRule parses one rule of the list for family (4 or 6).
func parseQubesDBRule(line string, family int) (ir.Rule, error) {
	dstKey := ""
	for tok := range strings.SplitSeq(line, " ") {
		key, _, ok := strings.Cut(tok, "=")
		if !ok {
			continue // ParseRule says what is wrong with it
		}
		if !slices.Contains(qubesDBOptions, key) {
			return ir.Rule{}, fmt.Errorf("option %q is not one dom0 writes for a firewall qube; want %s", key, orWords(qubesDBOptions))
		}
		if key == "dst4" || key == "dst6" || key == "dsthost" {
			dstKey = key
		}
	}
	r, err := ParseRule(line)
	if err != nil {
		return ir.Rule{}, err
	}
	other := 10 - family // 4 for 6, 6 for 4
	switch {
	case dstKey == "dst4" && family == 6, dstKey == "dst6" && family == 4:
		return ir.Rule{}, fmt.Errorf("%s in the list of an IPv%d address; dom0 writes IPv%d destinations into the IPv%d list only", dstKey, family, other, other)
	case dstKey == "dsthost" && r.Dst.Prefix.IsValid():
		return ir.Rule{}, fmt.Errorf("dsthost %s is an address; dom0 writes addresses as dst4 or dst6", r.Dst.Prefix)
	case dstKey != "dsthost" && r.Dst.Family() == other:
		return ir.Rule{}, fmt.Errorf("%s %s is an IPv%d prefix, in the list of an IPv%d address", dstKey, r.Dst.Prefix, other, family)
	}
	return r, nil
}

// orWords joins words as "a, b or c".
func orWords(words []string) string {
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
