package compiler

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/space"
	"github.com/qfw-dev/qfw/policy"
)

// target is one destination of a policy rule, parsed.
type target struct {
	dst ir.Dst
	at  policy.String
}

// protoMatch is one protocol part of a policy rule: a protocol with at most
// one port range or ICMP type.
type protoMatch struct {
	proto       ir.Proto
	hasPorts    bool
	ports       ir.PortRange
	hasICMPType bool
	icmpType    uint8
	// family is 4 or 6 for a part that exists in one family only: an ICMP
	// type (IPv4) or an ICMPv6 type. Qubes rules say "icmp" for both, and
	// the Linux agent compares the type as a number in either family, so
	// such a part must be kept to its family by its destination.
	family int
	at     policy.String
}

// rule checks one policy rule and expands it into Qubes rules: one for each
// destination and protocol part, destinations outermost. Nothing is ever
// widened: a rule whose destinations or services come out empty is an
// error, not a rule without that match.
func (c *compiler) rule(qube string, r *policy.Rule) []ir.Rule {
	// The rule's path is made only for an error or a warning: most rules
	// have none.
	var made string
	path := func() string {
		if made == "" {
			made = r.Path(qube)
		}
		return made
	}
	ok := true
	fail := func(pos policy.String, format string, args ...any) {
		c.errorf(policy.Errorf(pos.Pos, path(), format, args...))
		ok = false
	}
	at := policy.String{Pos: r.Pos}

	var targets []target
	switch {
	case r.DNS && r.HasTo:
		where := at
		if len(r.To) > 0 {
			where = r.To[0]
		}
		fail(where, "dns: true already limits the rule to the qube's DNS servers; remove to")
	case r.DNS:
		targets = []target{{at: at}}
	case !r.HasTo:
		fail(at, "rule has no destination: set to (\"any\" for every destination) or dns: true")
	default:
		targets = c.targets(r, fail)
	}

	protos := c.protos(r, c.backend == "qubes", fail)
	for _, s := range r.Services {
		for _, ports := range [2][]policy.String{s.TCP, s.UDP} {
			for _, p := range ports {
				if pr, err := ir.ParsePortRange(p.S); err == nil && pr.Last == 0 {
					c.warn(policy.Warnf(policy.PortZero, p.Pos, path(), "port 0 matches nothing real: dom0 accepts it, but no connection goes to port 0"))
				}
			}
		}
	}
	if r.DNS {
		for _, p := range protos {
			if p.proto == ir.ICMP || (p.hasPorts && p.ports != ir.PortRange{First: 53, Last: 53}) {
				fail(at, "dns: true matches port 53 over tcp and udp only; its service may hold only tcp and udp, as [53] or true")
				break
			}
		}
	}

	action := ir.Accept
	kind := ir.Allow
	if r.Deny {
		action, kind = ir.Drop, ir.Deny
	}
	expire := c.expire(r, path, fail)
	comment := r.Name
	if r.HasComment {
		comment = r.Comment.S
		if err := ir.CheckComment(comment); err != nil {
			fail(r.Comment, "%v", err)
		}
	}
	if !ok {
		return nil
	}

	// A host name is for both families, and every backend reads an ICMP
	// type beside it as the Linux agent does, as a number in each family;
	// so a type listed in both icmp and icmpv6 is one rule for a host.
	hostProtos := protos
	if c.backend != "qubes" && slices.ContainsFunc(targets, func(t target) bool { return t.dst.Host != "" }) {
		hostProtos = c.protos(r, true, func(policy.String, string, ...any) {})
	}

	allICMP := slices.ContainsFunc(protos, func(p protoMatch) bool { return p.proto == ir.ICMP && !p.hasICMPType })

	origin := ir.Origin{Kind: kind, Name: r.Name, Pos: r.Pos}
	out := make([]ir.Rule, 0, len(targets)*len(protos))
	for _, t := range targets {
		protos := protos
		if t.dst.Host != "" {
			protos = hostProtos
		}
		if t.dst.Host != "" {
			c.warnHost(t, path(), kind)
		}
		for _, p := range protos {
			dst, keep := familyDst(t.dst, p.family)
			if !keep {
				// An ICMP type to an IPv6 prefix, or the reverse: no
				// packet is both, so the part matches nothing.
				continue
			}
			if t.dst.Host != "" && p.family != 0 && allICMP {
				// icmp: true already matches the type in both
				// families, to the same host, with the same verdict.
				continue
			}
			if t.dst.Host != "" && p.family != 0 {
				other := "icmpv6"
				if p.family == 6 {
					other = "icmp"
				}
				fail(p.at, "%s is for both families, and an ICMP type beside a host name matches that number in both, as an ICMP type in IPv4 and an ICMPv6 type in IPv6; list %d in %s too to match both, or use addresses or prefixes", t.dst.Host, p.icmpType, other)
				return nil
			}
			out = append(out, ir.Rule{
				Action: action,
				Match: ir.Match{
					Dst: dst, Proto: p.proto, DNS: r.DNS,
					HasPorts: p.hasPorts, Ports: p.ports,
					HasICMPType: p.hasICMPType, ICMPType: p.icmpType,
				},
				Expire:  expire,
				Comment: comment,
				Origin:  origin,
			})
		}
	}
	if len(out) == 0 {
		fail(at, "no destination of the rule is in the family of its ICMP types, so it would match nothing")
	}
	return out
}

// familyDst returns the destination that keeps d to family (4 or 6; 0 for
// both), and whether any of d is in that family. Any destination becomes
// the whole family, 0.0.0.0/0 or ::/0, which dom0 keeps as written.
func familyDst(d ir.Dst, family int) (ir.Dst, bool) {
	switch {
	case family == 0 || d.Host != "":
		return d, true
	case d.IsAny() && family == 4:
		return ir.Dst{Prefix: netip.PrefixFrom(netip.IPv4Unspecified(), 0)}, true
	case d.IsAny():
		return ir.Dst{Prefix: netip.PrefixFrom(netip.IPv6Unspecified(), 0)}, true
	}
	return d, d.Family() == family
}

// targets parses the destinations of r. "any" stands alone; exact
// duplicates and prefixes inside another prefix of the same rule are
// dropped, which changes nothing the rule matches.
func (c *compiler) targets(r *policy.Rule, fail func(policy.String, string, ...any)) []target {
	if len(r.To) == 0 {
		fail(policy.String{Pos: r.Pos}, "to is empty, so the rule would match nothing; list destinations or remove the rule")
		return nil
	}
	var out []target
	for _, s := range r.To {
		if s.S == "any" {
			if len(r.To) > 1 {
				fail(s, "\"any\" already matches every destination; it cannot be listed with others")
				return nil
			}
			return []target{{at: s}}
		}
		d, err := ir.ParseDst(s.S)
		if err != nil {
			fail(s, "%v", err)
			continue
		}
		out = append(out, target{dst: d, at: s})
	}
	return dropCovered(out)
}

// dropCovered returns ts, in order, without the destinations that another
// of them matches in full: a repeat of an earlier one, or one inside a
// wider prefix. Prefixes of one family are either nested or disjoint, so
// once they are sorted by first address and then length, a sweep that
// keeps the chain of prefixes around the current one meets each prefix
// after all the prefixes that hold it: it is inside a wider one exactly
// when that chain is not empty.
func dropCovered(ts []target) []target {
	if len(ts) <= fewTargets {
		return dropCoveredPairs(ts)
	}
	return dropCoveredSweep(ts)
}

// dropCoveredSweep is dropCovered for many destinations, by the sort and
// the sweep.
func dropCoveredSweep(ts []target) []target {
	drop := make([]bool, len(ts))
	seen := make(map[ir.Dst]bool, len(ts))
	type span struct {
		is4    bool
		lo, hi space.U128
		bits   int
		i      int
	}
	var spans []span
	for i, t := range ts {
		if seen[t.dst] {
			drop[i] = true
			continue
		}
		seen[t.dst] = true
		if p := t.dst.Prefix; p.IsValid() {
			lo, hi := space.PrefixRange(p)
			spans = append(spans, span{p.Addr().Is4(), lo, hi, p.Bits(), i})
		}
	}
	slices.SortFunc(spans, func(a, b span) int {
		switch {
		case a.is4 != b.is4:
			if a.is4 {
				return -1
			}
			return 1
		case a.lo != b.lo:
			if a.lo.Less(b.lo) {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.bits, b.bits)
	})
	var around []span
	for _, s := range spans {
		for n := len(around); n > 0 && (around[n-1].is4 != s.is4 || around[n-1].hi.Less(s.lo)); n-- {
			around = around[:n-1]
		}
		if len(around) > 0 {
			drop[s.i] = true
		}
		around = append(around, s)
	}
	var kept []target
	for i, t := range ts {
		if !drop[i] {
			kept = append(kept, t)
		}
	}
	return kept
}

// fewTargets is the number of destinations up to which comparing every
// pair is faster than sorting.
const fewTargets = 16

// dropCoveredPairs is dropCovered for a few destinations: each is
// compared with every other.
func dropCoveredPairs(ts []target) []target {
	var kept []target
	for i, t := range ts {
		if !covered(t.dst, i, ts) {
			kept = append(kept, t)
		}
	}
	return kept
}

// covered reports whether destination i of ts is matched in full by another
// of them: an equal one earlier in the list, or a wider prefix.
func covered(d ir.Dst, i int, ts []target) bool {
	for j, o := range ts {
		switch {
		case j == i:
		case o.dst == d:
			if j < i {
				return true
			}
		case d.Prefix.IsValid() && o.dst.Prefix.IsValid() &&
			o.dst.Prefix.Bits() < d.Prefix.Bits() && o.dst.Prefix.Overlaps(d.Prefix):
			return true
		}
	}
	return false
}

// protos returns the protocol parts of r: the union of its services, with
// overlapping and adjacent port ranges merged. A rule without services
// matches every protocol, and has one part that says so; a rule whose
// services are an empty list matches nothing, which is an error.
//
// mergeICMP says that an ICMP type listed both in icmp and in icmpv6 is
// one part for both families, as the Linux agent reads proto=icmp
// icmptype=N: type N in IPv4, ICMPv6 type N in IPv6. qfw's nftables
// backend reads such a rule otherwise unless it is to a host name (the
// type's ICMPv6 counterpart), so for its clients the part stays split by
// family where the destination can be.
func (c *compiler) protos(r *policy.Rule, mergeICMP bool, fail func(policy.String, string, ...any)) []protoMatch {
	if !r.HasService {
		return []protoMatch{{proto: ir.AnyProto}}
	}
	var tcp, udp []ir.PortRange
	var allTCP, allUDP, icmpAll bool
	var icmpTypes, icmpv6Types []policy.Int
	bad := false
	portsOf := func(list []policy.String) []ir.PortRange {
		var out []ir.PortRange
		for _, s := range list {
			pr, err := ir.ParsePortRange(s.S)
			if err != nil {
				fail(s, "%v", err)
				bad = true
				continue
			}
			out = append(out, pr)
		}
		return out
	}
	for _, s := range r.Services {
		tcp = append(tcp, portsOf(s.TCP)...)
		udp = append(udp, portsOf(s.UDP)...)
		allTCP = allTCP || s.AllTCP
		allUDP = allUDP || s.AllUDP
		if s.ICMP && s.ICMPTypes == nil {
			icmpAll = true
		}
		icmpTypes = append(icmpTypes, s.ICMPTypes...)
		icmpv6Types = append(icmpv6Types, s.ICMPv6Types...)
	}
	var out []protoMatch
	ports := func(proto ir.Proto, all bool, ranges []ir.PortRange) {
		if all {
			// Every port: a rule with the protocol and no ports, which
			// also matches the ranges listed beside it.
			out = append(out, protoMatch{proto: proto})
			return
		}
		for _, pr := range ir.MergeRanges(ranges) {
			out = append(out, protoMatch{proto: proto, hasPorts: true, ports: pr})
		}
	}
	ports(ir.TCP, allTCP, tcp)
	ports(ir.UDP, allUDP, udp)
	// An ICMP type listed both in icmp and in icmpv6 is one part for both
	// families, where mergeICMP says so.
	inV4, inV6 := map[int64]bool{}, map[int64]bool{}
	for _, t := range icmpTypes {
		inV4[t.N] = !icmpAll && mergeICMP
	}
	for _, t := range icmpv6Types {
		inV6[t.N] = true
	}
	typed := func(types []policy.Int, family int) {
		seen := map[int64]bool{}
		slices.SortStableFunc(types, func(a, b policy.Int) int { return cmp.Compare(a.N, b.N) })
		for _, t := range types {
			f := family
			if inV4[t.N] && inV6[t.N] {
				if family == 6 {
					continue // the IPv4 pass made the part for both
				}
				f = 0
			}
			switch {
			case t.N < 0 || t.N > 255:
				fail(policy.String{Pos: t.Pos}, "ICMP type %d out of range 0-255", t.N)
				bad = true
			case !seen[t.N]:
				seen[t.N] = true
				out = append(out, protoMatch{proto: ir.ICMP, hasICMPType: true, icmpType: uint8(t.N), family: f, at: policy.String{Pos: t.Pos}})
			}
		}
	}
	if icmpAll {
		// Every ICMP type in IPv4, and every ICMPv6 type in IPv6: the
		// agent matches proto=icmp as ICMPv6 there.
		out = append(out, protoMatch{proto: ir.ICMP})
	} else {
		typed(icmpTypes, 4)
	}
	typed(icmpv6Types, 6)
	if len(out) == 0 && !bad {
		fail(policy.String{Pos: r.Pos}, "the rule's services list no port and no ICMP type, so it would match nothing")
	}
	return out
}

// expire parses the rule's expire field: UNIX seconds or an RFC 3339 time.
func (c *compiler) expire(r *policy.Rule, path func() string, fail func(policy.String, string, ...any)) int64 {
	s := r.Expire.S
	if s == "" && !r.Expire.Pos.IsValid() {
		return 0
	}
	t, err := ParseTime(s)
	if err != nil {
		fail(r.Expire, "expire %q is neither UNIX seconds nor an RFC 3339 time such as 2027-01-31T18:00:00Z", s)
		return 0
	}
	at := t.Unix()
	if at <= 0 {
		fail(r.Expire, "expire %q is not after 1970", s)
		return 0
	}
	if at > ir.MaxExpire {
		fail(r.Expire, "expire %q is after the year 9999, which dom0 cannot read", s)
		return 0
	}
	if !c.opts.Now.IsZero() && at <= c.opts.Now.Unix() {
		kind := ir.Allow
		if r.Deny {
			kind = ir.Deny
		}
		c.warnExpired(r.Expire.Pos, path(), at, kind, r.Name, r.Pos)
	}
	return at
}

// ParseTime parses a time as the policy language writes it: UNIX seconds,
// or RFC 3339.
func ParseTime(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	return time.Parse(time.RFC3339, s)
}

// warnHost says how the firewall qube's backend resolves the name t
// names, and what a failed lookup does to the rule of kind. (The unikernel
// resolves names otherwise; backends/mirage says how.)
func (c *compiler) warnHost(t target, path string, kind ir.Kind) {
	switch c.backend {
	case "nftables":
		failed := "an allow to it matches nothing"
		if kind == ir.Deny {
			failed = "a deny to it keeps its last addresses, and blocks the qube if it never had any"
		}
		c.warn(policy.Warnf(policy.Hostname, t.at.Pos, path, "%s is resolved by the firewall qube and enforced by address: qfw agent follows its time to live, qfw apply resolves it when the table is built; while it does not resolve, %s", t.dst.Host, failed))
	case "qubes":
		c.warn(policy.Warnf(policy.Hostname, t.at.Pos, path, "%s is resolved by the firewall qube when the rules load, and enforced by address: later DNS changes are not followed, and a failed lookup blocks the qube", t.dst.Host))
	}
}

// backendOf returns the backend of the firewall qube netvm, as the
// policy's firewalls section names it: "qubes" (the Linux agent) unless it
// says otherwise.
func (c *compiler) backendOf(netvm string) string {
	for _, f := range c.pol.Firewalls {
		if f.Name == netvm {
			return f.Backend
		}
	}
	return "qubes"
}
