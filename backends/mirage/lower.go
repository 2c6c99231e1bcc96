package mirage

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"cuelang.org/go/cue/token"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// Entry is one QubesDB key under /qubes-firewall/ and its value.
type Entry struct {
	Key   string
	Value string
}

// String returns e as `KEY = "VALUE"`.
func (e Entry) String() string { return e.Key + " = " + strconv.Quote(e.Value) }

// Status is what becomes of one rule of a client's list in the unikernel.
type Status uint8

const (
	// Enforced is a rule the unikernel reads, parses and matches.
	Enforced Status = iota + 1
	// IPv6Only is an IPv6 rule: dom0 writes it to the IPv6 tree only,
	// which the unikernel never reads.
	IPv6Only
	// Expired is a rule that has expired: dom0 writes it nowhere.
	Expired
	// Unread is a rule dom0 writes after a gap in the numbering, where
	// the unikernel has stopped reading.
	Unread
	// Voided is a rule the unikernel reads, but one of the rules read
	// does not parse, so it drops all the client's traffic instead.
	Voided
)

func (s Status) String() string {
	switch s {
	case Enforced:
		return "enforced"
	case IPv6Only:
		return "ipv6-only"
	case Expired:
		return "expired"
	case Unread:
		return "unread"
	case Voided:
		return "voided"
	}
	return "invalid"
}

// RuleReport is what the unikernel makes of one rule of a client's list.
type RuleReport struct {
	// Index is the rule's position in the list as dom0 stores it.
	Index int
	// Key is the QubesDB key dom0 writes the rule under in the IPv4
	// tree, and Value the rule as written there (see [FormatRule]); both
	// are empty where dom0 writes none.
	Key, Value string
	Status     Status
	// How says how the release enforces the rule, or why it does not.
	How string
}

// Lowering is a client's rule list as one release of the unikernel reads
// and enforces it.
type Lowering struct {
	// Client is the client's IPv4 address, which names its QubesDB tree.
	Client  netip.Addr
	Release Release
	// Entries are the QubesDB entries the unikernel reads for the client,
	// in dom0's write order: the policy (always drop, which the unikernel
	// ignores for its own hard-coded default drop), the rules from 0000 up
	// to the first missing index, then the empty signal key, on whose
	// write the unikernel re-reads the list.
	Entries []Entry
	// Rules reports on every rule of the list, in order.
	Rules []RuleReport
	// Diagnostics holds the errors and warnings, sorted by rule: see
	// [Lower].
	Diagnostics []Diagnostic
}

// Err returns the diagnostics of severity Error as one error, or nil if
// there are none.
func (l *Lowering) Err() error {
	var errs []error
	for i := range l.Diagnostics {
		if l.Diagnostics[i].Severity == Error {
			errs = append(errs, &l.Diagnostics[i])
		}
	}
	return errors.Join(errs...)
}

// Lower returns what release rel of the unikernel makes of rules, the
// ordered list that dom0 stores for the client with IPv4 address client
// (both families mixed, as admin.vm.firewall.Get returns it), at time now
// in UNIX seconds.
//
// Errors are for what rel would mis-enforce or widen:
//   - a gap before rules that dom0 writes to the IPv4 tree (an IPv6 or an
//     expired rule before them);
//   - a host name the unikernel cannot parse, which turns the client's
//     list into drop-all;
//   - specialtarget=dns with a protocol, which the unikernel reads as that
//     protocol to every destination;
//   - a host name in a release whose name rules never match;
//   - a drop by host name that a later accept may undo: the unikernel
//     skips a rule whose name it cannot resolve, so the drop fails open
//     whenever a lookup fails (times out, finds no A record, or the
//     resolver is down). A drop by name that nothing after it could undo
//     is only warned about, as skipping it changes nothing.
//
// Warnings are for differences that only narrow, or that the user should
// know: how names are resolved, accepts that only an IPv6 rule holds,
// accepts that also reach the firewall's other clients, rules that will
// expire before others. The differences common to every client (silent
// drops, no IPv6, …) are in [Release.Notes].
//
// Rules that dom0 writes to the IPv4 tree are all checked, including
// those after a gap, so that fixing the gap reveals nothing new.
func Lower(client netip.Addr, rules []ir.Rule, rel Release, now int64) (*Lowering, error) {
	switch {
	case !client.IsValid():
		return nil, errors.New("lower for the mirage firewall: the client has no IPv4 address")
	case !client.Is4():
		return nil, fmt.Errorf("lower for the mirage firewall: client address %s is not IPv4; the unikernel reads rules for IPv4 clients only", client)
	case rel.Version == "":
		return nil, errors.New("lower for the mirage firewall: no release given")
	}
	l := &Lowering{Client: client, Release: rel, Rules: make([]RuleReport, len(rules))}
	dir := ir.QubesDBDir(client)

	// gap is the first index dom0 leaves out of the IPv4 tree; the
	// unikernel reads the rules before it.
	gap := len(rules)
	for i, r := range rules {
		if !ir.InFamilyList(r, 4, now) {
			gap = i
			break
		}
	}

	l.Diagnostics = checkOrder(rules, now)
	// voided is the first rule read that the unikernel cannot parse, or -1.
	voided := -1
	var parseErr error
	ipv4 := newIPv4After(rules)
	for i := range rules {
		err := l.lowerRule(rules, i, gap, ipv4, now)
		if err != nil && i < gap && voided < 0 {
			voided, parseErr = i, err
		}
	}
	if voided >= 0 {
		for i := range gap {
			l.Rules[i].Status = Voided
			l.Rules[i].How = "not enforced: the unikernel cannot parse rule " + ir.QubesDBIndex(voided) + " and drops all traffic from the client instead"
		}
		l.Rules[voided].How = fmt.Sprintf("not enforced: the unikernel cannot parse this rule (%v) and drops all traffic from the client instead", parseErr)
	}

	l.Entries = append(l.Entries, Entry{Key: dir + "/policy", Value: "drop"})
	for _, rep := range l.Rules[:gap] {
		l.Entries = append(l.Entries, Entry{Key: rep.Key, Value: rep.Value})
	}
	l.Entries = append(l.Entries, Entry{Key: dir, Value: ""})
	sortDiagnostics(l.Diagnostics)
	return l, nil
}

// lowerRule reports on rules[i] in l.Rules[i] and adds its diagnostics,
// given the first gap in the IPv4 tree and the counts of IPv4 rules of
// the list. It returns why the unikernel cannot parse the rule, if it
// cannot.
func (l *Lowering) lowerRule(rules []ir.Rule, i, gap int, ipv4 *ipv4After, now int64) error {
	r := rules[i]
	rep := &l.Rules[i]
	rep.Index = i
	if !ir.InFamilyList(r, 4, now) {
		if r.Dst.Family() != 6 {
			rep.Status, rep.How = Expired, "not read: it expired at "+formatTime(r.Expire)+", so dom0 does not write it"
			return nil
		}
		rep.Status, rep.How = IPv6Only, "not read: dom0 writes IPv6 rules to the IPv6 tree only, and the unikernel drops all IPv6 traffic"
		// Before IPv4 rules, checkOrder has reported the worse problem.
		if n, _ := ipv4.after(i, now); r.Action == ir.Accept && n == 0 && !hasIPv4Part(rules, r.Origin, now) {
			l.Diagnostics = append(l.Diagnostics, diagAt(rules, i, Warning,
				"the unikernel has no IPv6 and drops all IPv6 traffic, so this IPv6 rule never accepts anything"))
		}
		return nil
	}
	rep.Key, rep.Value = ir.QubesDBKey(l.Client, i), FormatRule(r)
	rep.Status, rep.How = Enforced, explain(r, l.Release)
	if i > gap {
		rep.Status, rep.How = Unread, "not read: the unikernel stops at the gap at key "+ir.QubesDBIndex(gap)
	}
	if err := checkParse(r); err != nil {
		l.Diagnostics = append(l.Diagnostics, diagAt(rules, i, Error,
			"the unikernel cannot parse this rule (%v) and, on a rule it cannot parse, drops all traffic from the client; write the host's addresses instead, or a name of letters, digits and \"-\"", err))
		return err
	}
	l.Diagnostics = append(l.Diagnostics, checkRule(rules, i, l.Release, now)...)
	return nil
}

// checkParse reports why the unikernel's parser would reject r as dom0
// writes it. Only a host name can fail: the parser takes every other
// value of the rule model.
func checkParse(r ir.Rule) error {
	if r.Dst.Host == "" {
		return nil
	}
	return checkHost(r.Dst.Host)
}

// checkRule returns the diagnostics about what rel makes of rules[i], a
// rule dom0 writes to the IPv4 tree at time now, given the rules around it.
func checkRule(rules []ir.Rule, i int, rel Release, now int64) []Diagnostic {
	r := rules[i]
	var ds []Diagnostic
	if r.DNS && r.Proto != ir.AnyProto {
		// What else there is to say about the rule follows from this
		// misreading, and goes once it is fixed.
		return []Diagnostic{diagAt(rules, i, Error,
			"the unikernel ignores specialtarget=dns in a rule with a protocol, so this rule would %s %s to every destination, not only to the DNS servers; remove the protocol and ports: specialtarget=dns alone already means tcp and udp port 53 to the DNS servers (in the policy, dns: true without a service)",
			r.Action, protoPhrase(r.Match))}
	}
	if r.Dst.Host != "" {
		ds = append(ds, checkName(rules, i, rel, now))
	}
	if r.Action == ir.Accept {
		if open := openClientRanges(rules, i, now); len(open) > 0 {
			ds = append(ds, diagAt(rules, i, Warning,
				"this rule also lets the client reach other clients of this firewall (%s): the unikernel forwards traffic between its clients when the source's rules accept it, where a Linux firewall qube blocks it whatever the rules; to keep qubes apart, deny %s before this rule",
				prefixList(open), prefixList(open)))
		}
	}
	return ds
}

// checkName returns the diagnostic about rules[i], a rule to a host name.
func checkName(rules []ir.Rule, i int, rel Release, now int64) Diagnostic {
	r := rules[i]
	host := r.Dst.Host
	if !rel.NamesWork() {
		effect := "an accept by name never accepts"
		if r.Action == ir.Drop {
			effect = "a drop by name never drops, and the rules after it decide instead"
		}
		return diagAt(rules, i, Error,
			"this rule never matches in release %s, which cannot resolve host names (%s): %s; use release %s or later (%s is the latest), or write the host's addresses",
			rel.Version, rel.NamesBroken, effect, minimumRecommended, Latest)
	}
	if r.Action == ir.Drop {
		for j := i + 1; j < len(rules); j++ {
			a := rules[j]
			if a.Action != ir.Accept || !ir.InFamilyList(a, 4, now) || !nameMayUndo(r.Match, a.Match) {
				continue
			}
			d := diagAt(rules, i, Error,
				"a drop by host name fails open in the unikernel: whenever it cannot resolve %s (a lookup times out after 5 s, fails, or finds no A record) it skips this rule, and %s after it may then accept the traffic; drop by address instead, listing the host's addresses, or make sure that no later rule accepts what this one drops",
				host, ruleName(rules, j))
			d.Also = []token.Pos{a.Origin.Pos}
			return d
		}
	}
	where := "at " + rel.Resolver.String()
	if rel.Resolver == PublicResolver {
		where += ", a public resolver, not through the netvm, so its answers may differ from the client's"
	}
	return diagAt(rules, i, Warning,
		"the unikernel looks %s up for each new connection %s: A records only (no IPv6), cached by TTL for at most 32 names, 5 s timeout; a failed lookup skips the rule, and open connections are not checked again when the answer changes",
		host, where)
}

// openClientRanges returns the client ranges that rules[i], an accept,
// reaches in the unikernel and that no rule before it in the IPv4 tree
// drops entirely.
func openClientRanges(rules []ir.Rule, i int, now int64) []netip.Prefix {
	var open []netip.Prefix
	for _, c := range clientRangesOf(rules[i].Match) {
		covered := false
		for _, e := range rules[:i] {
			if ir.InFamilyList(e, 4, now) && dropsAll(e, c) {
				covered = true
				break
			}
		}
		if !covered {
			open = append(open, c)
		}
	}
	return open
}

// prefixList returns ps as "a and b".
func prefixList(ps []netip.Prefix) string {
	s := ""
	for k, p := range ps {
		switch {
		case k == 0:
		case k == len(ps)-1:
			s += " and "
		default:
			s += ", "
		}
		s += p.String()
	}
	return s
}

// hasIPv4Part reports whether the policy rule o, which rules has a part of
// in IPv6, has a part that dom0 writes to the IPv4 tree too: a warning
// that its IPv6 part never accepts would then say less than it seems.
func hasIPv4Part(rules []ir.Rule, o ir.Origin, now int64) bool {
	if o.Name == "" {
		return false
	}
	for _, r := range rules {
		if r.Origin == o && ir.InFamilyList(r, 4, now) {
			return true
		}
	}
	return false
}
