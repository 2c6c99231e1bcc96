package compiler

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/qfw-dev/qfw/compiler/ir"
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
}

// rule checks one policy rule and expands it into Qubes rules: one for each
// destination and protocol part, destinations outermost. Nothing is ever
// widened: a rule whose destinations or services come out empty is an
// error, not a rule without that match.
func (c *compiler) rule(qube string, r *policy.Rule) []ir.Rule {
	path := r.Path(qube)
	ok := true
	fail := func(pos policy.String, format string, args ...any) {
		c.errorf(policy.Errorf(pos.Pos, path, format, args...))
		ok = false
	}
	at := policy.String{Pos: r.Pos}

	var targets []target
	switch {
	case r.DNS && r.HasTo:
		fail(r.To[0], "dns: true already limits the rule to the qube's DNS servers; remove to")
	case r.DNS:
		targets = []target{{at: at}}
	case !r.HasTo:
		fail(at, "rule has no destination: set to (\"any\" for every destination) or dns: true")
	default:
		targets = c.targets(r, fail)
	}

	protos := c.protos(r, fail)
	if r.DNS {
		for _, p := range protos {
			if p.proto == ir.ICMP || (p.hasPorts && p.ports != ir.PortRange{First: 53, Last: 53}) {
				fail(at, "dns: true matches port 53 over tcp and udp only; its service may hold only tcp: [53] and udp: [53]")
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

	origin := ir.Origin{Kind: kind, Name: r.Name, Pos: r.Pos}
	out := make([]ir.Rule, 0, len(targets)*len(protos))
	for _, t := range targets {
		if t.dst.Host != "" {
			c.warn(policy.Errorf(t.at.Pos, path, "%s is resolved by the firewall qube when the rules load, and enforced by address: later DNS changes are not followed, and a failed lookup blocks the qube", t.dst.Host))
		}
		for _, p := range protos {
			out = append(out, ir.Rule{
				Action: action,
				Match: ir.Match{
					Dst: t.dst, Proto: p.proto, DNS: r.DNS,
					HasPorts: p.hasPorts, Ports: p.ports,
					HasICMPType: p.hasICMPType, ICMPType: p.icmpType,
				},
				Expire:  expire,
				Comment: comment,
				Origin:  origin,
			})
		}
	}
	return out
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
	var kept []target
	for i, t := range out {
		if !covered(t.dst, i, out) {
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
// matches every protocol, and has one part that says so.
func (c *compiler) protos(r *policy.Rule, fail func(policy.String, string, ...any)) []protoMatch {
	if len(r.Services) == 0 {
		return []protoMatch{{proto: ir.AnyProto}}
	}
	var tcp, udp []ir.PortRange
	var icmpAll bool
	var icmpTypes []uint8
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
		if !s.ICMP {
			continue
		}
		if s.ICMPTypes == nil {
			icmpAll = true
		}
		for _, t := range s.ICMPTypes {
			if t.N < 0 || t.N > 255 {
				fail(policy.String{Pos: t.Pos}, "ICMP type %d out of range 0-255", t.N)
				bad = true
				continue
			}
			icmpTypes = append(icmpTypes, uint8(t.N))
		}
	}
	var out []protoMatch
	for _, pr := range mergeRanges(tcp) {
		out = append(out, protoMatch{proto: ir.TCP, hasPorts: true, ports: pr})
	}
	for _, pr := range mergeRanges(udp) {
		out = append(out, protoMatch{proto: ir.UDP, hasPorts: true, ports: pr})
	}
	if icmpAll {
		out = append(out, protoMatch{proto: ir.ICMP})
	} else {
		slices.Sort(icmpTypes)
		for _, t := range slices.Compact(icmpTypes) {
			out = append(out, protoMatch{proto: ir.ICMP, hasICMPType: true, icmpType: t})
		}
	}
	if len(out) == 0 && !bad {
		fail(policy.String{Pos: r.Pos}, "the rule's services list no port and no ICMP, so it would match nothing")
	}
	return out
}

// mergeRanges sorts port ranges and merges those that overlap or touch.
func mergeRanges(rs []ir.PortRange) []ir.PortRange {
	slices.SortFunc(rs, func(a, b ir.PortRange) int { return cmp.Compare(a.First, b.First) })
	var out []ir.PortRange
	for _, r := range rs {
		if n := len(out); n > 0 && uint32(r.First) <= uint32(out[n-1].Last)+1 {
			out[n-1].Last = max(out[n-1].Last, r.Last)
			continue
		}
		out = append(out, r)
	}
	return out
}

// expire parses the rule's expire field: UNIX seconds or an RFC 3339 time.
func (c *compiler) expire(r *policy.Rule, path string, fail func(policy.String, string, ...any)) int64 {
	s := r.Expire.S
	if s == "" && !r.Expire.Pos.IsValid() {
		return 0
	}
	var at int64
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		at = n
	} else if t, err := time.Parse(time.RFC3339, s); err == nil {
		at = t.Unix()
	} else {
		fail(r.Expire, "expire %q is neither UNIX seconds nor an RFC 3339 time such as 2027-01-31T18:00:00Z", s)
		return 0
	}
	if at <= 0 {
		fail(r.Expire, "expire %q is not after 1970", s)
		return 0
	}
	if !c.opts.Now.IsZero() && at <= c.opts.Now.Unix() {
		c.warn(policy.Errorf(r.Expire.Pos, path, "rule expired at %s; dom0 drops it", time.Unix(at, 0).UTC().Format(time.RFC3339)))
	}
	return at
}

func itoa(i int) string { return strconv.Itoa(i) }
