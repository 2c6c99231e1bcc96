package mirage

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/compiler/ir"
)

// FuzzLower checks Lower against a model of the unikernel written from the
// reference (qubes-mirage-firewall dao.ml read_rules and pf-qubes
// Parse_qubes): given the entries dom0 writes for a client's list, the
// unikernel reads keys 0000, 0001, … up to the first missing one, parses
// each value with the positional grammar, and on any parse error drops all
// the client's traffic. Lower must predict exactly that: the entries read,
// the rules enforced, and the list voided; and a rule whose value the
// model cannot parse, or that the unikernel does not read, is an error.
//
// The input is a list of Admin API lines, one a line, as dom0 returns it;
// lines that ParseRule refuses are skipped. Seeds are in testdata/fuzz.
func FuzzLower(f *testing.F) {
	for _, s := range []string{
		"action=accept",
		"action=accept dst4=10.0.0.0/8 proto=tcp dstports=22-22\naction=drop",
		"action=accept dst6=2001:db8::/32\naction=accept dst4=192.0.2.0/24",
		"action=drop expire=1000 dsthost=example.com\naction=accept proto=icmp icmptype=8",
		"action=accept dsthost=a_b.example\naction=accept",
		"action=accept dsthost=1.example.123\naction=drop proto=udp dstports=53-53",
		"action=drop dsthost=ads.example\naction=accept proto=tcp specialtarget=dns",
		"action=accept specialtarget=dns\naction=accept dsthost=x.example expire=99999999999",
		"action=accept dsthost=" + strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 57),
	} {
		f.Add(s, int64(1700000000), uint8(len(s)))
	}
	client := netip.MustParseAddr("10.137.0.16")
	rels := Releases()
	f.Fuzz(func(t *testing.T, list string, now int64, which uint8) {
		var rules []ir.Rule
		for line := range strings.SplitSeq(list, "\n") {
			if r, err := qubes.ParseRule(line); err == nil {
				rules = append(rules, r)
			}
		}
		checkLower(t, client, rules, rels[int(which)%len(rels)], now)
	})
}

// FuzzLowerShapes checks Lower as FuzzLower does, on lists built from shape,
// five bytes a rule, so that every run is a list of valid rules: the
// mixes of families, expiry, names the unikernel refuses and
// specialtarget=dns that decide how the unikernel reads a list.
func FuzzLowerShapes(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 1, 2, 1, 1, 0}, int64(1700000000), uint8(12))
	f.Add([]byte{0, 3, 2, 0, 1, 0, 0, 0, 0, 0, 1, 5, 0, 0, 0}, int64(1700000000), uint8(12))
	f.Add([]byte{1, 4, 1, 2, 0, 0, 6, 3, 1, 2, 0, 0, 0, 0, 0}, int64(1700000000), uint8(8))
	client := netip.MustParseAddr("10.137.0.16")
	rels := Releases()
	f.Fuzz(func(t *testing.T, shape []byte, now int64, which uint8) {
		var rules []ir.Rule
		for ; len(shape) >= 5 && len(rules) < 64; shape = shape[5:] {
			if r := shapedRule(shape, now); r.Validate() == nil {
				rules = append(rules, r)
			}
		}
		checkLower(t, client, rules, rels[int(which)%len(rels)], now)
	})
}

// Destinations, protocols and expiries a shaped rule picks from.
var (
	shapeDsts = []ir.Dst{
		{}, pfx("192.0.2.0/24"), pfx("2001:db8::/32"), pfx("10.137.0.0/16"), host("example.com"),
		host("a_b.example"), host("1.example.123"), pfx("0.0.0.0/0"), pfx("::/0"), host("dns.example"),
	}
	shapeProtos = []ir.Proto{ir.AnyProto, ir.TCP, ir.UDP, ir.ICMP}
)

// shapedRule returns the rule that b[:5] stands for at time now: action,
// destination, protocol with ports or ICMP type, DNS, and an expiry
// before, at or after now. It may be invalid.
func shapedRule(b []byte, now int64) ir.Rule {
	r := ir.Rule{Action: ir.Accept + ir.Action(b[0]%2)}
	r.Dst = shapeDsts[int(b[1])%len(shapeDsts)]
	r.Proto = shapeProtos[int(b[2])%len(shapeProtos)]
	switch {
	case (r.Proto == ir.TCP || r.Proto == ir.UDP) && b[3]%3 != 0:
		r.HasPorts, r.Ports = true, ir.PortRange{First: 53, Last: 53 + uint16(b[3]%3-1)*400}
	case r.Proto == ir.ICMP && b[3]%2 == 1:
		r.HasICMPType, r.ICMPType = true, b[3]
	}
	r.DNS = b[4]&1 != 0
	switch b[4] >> 1 % 4 {
	case 1:
		r.Expire = now
	case 2:
		r.Expire = now + 1
	}
	if r.Expire < 1 || r.Expire > ir.MaxExpire {
		r.Expire = 0
	}
	r.Origin = ir.Origin{Kind: ir.Allow, Name: "r" + strconv.Itoa(int(b[0]))}
	return r
}

// checkLower fails t unless Lower's report on rules agrees with what the
// model of the unikernel reads of dom0's writes for client at time now.
func checkLower(t *testing.T, client netip.Addr, rules []ir.Rule, rel Release, now int64) {
	t.Helper()
	var lines []string
	for _, r := range rules {
		lines = append(lines, qubes.FormatRule(r))
	}
	list := strings.Join(lines, "\n")
	l, err := Lower(client, rules, rel, now)
	if err != nil {
		t.Fatalf("Lower: %v", err)
	}

	// What dom0 writes, and what the unikernel reads of it.
	written := map[string]string{}
	for _, e := range qubes.Entries(client, rules, now) {
		if e.Op == qubes.Write {
			written[e.Path] = e.Value
		}
	}
	dir := ir.QubesDBDir(client)
	want := []Entry{{Key: dir + "/policy", Value: "drop"}}
	var read []ir.Rule
	var parseErr error
	voided := -1
	for i := 0; ; i++ {
		key := ir.QubesDBKey(client, i)
		v, ok := written[key]
		if !ok {
			break
		}
		want = append(want, Entry{Key: key, Value: v})
		got, err := parseUnikernel(v)
		if err != nil && voided < 0 {
			voided, parseErr = i, err
		}
		read = append(read, got)
	}
	want = append(want, Entry{Key: dir})
	if got, w := fmt.Sprint(l.Entries), fmt.Sprint(want); got != w {
		t.Fatalf("Lower(%q).Entries =\n%s\nwant what the unikernel reads of dom0's writes:\n%s", list, got, w)
	}

	if len(l.Rules) != len(rules) {
		t.Fatalf("Lower(%q) reports on %d rules; want %d", list, len(l.Rules), len(rules))
	}
	for i, rep := range l.Rules {
		r := rules[i]
		var status Status
		switch {
		case i < len(read) && voided >= 0:
			status = Voided
		case i < len(read):
			status = Enforced
			if got, w := read[i], stripped(r); got != w {
				t.Fatalf("rule %d %q: the unikernel parses %+v; want %+v", i, FormatRule(r), got, w)
			}
		case r.Dst.Family() == 6:
			status = IPv6Only
		case r.Expire != 0 && r.Expire <= now:
			status = Expired
		default:
			status = Unread
		}
		if rep.Status != status {
			t.Fatalf("rule %d %q of %q at %d: status %s; want %s (%s)", i, FormatRule(r), list, now, rep.Status, status, rep.How)
		}
	}
	lerr := l.Err()
	switch {
	case voided >= 0 && lerr == nil:
		t.Fatalf("Lower(%q): the unikernel cannot parse rule %d (%v), but Lower reports no error", list, voided, parseErr)
	case len(read) < len(rules) && hasStatus(l.Rules, Unread) && lerr == nil:
		t.Fatalf("Lower(%q): rules go unread, but Lower reports no error", list)
	}
}

// hasStatus reports whether a rule of reps has status s.
func hasStatus(reps []RuleReport, s Status) bool {
	for _, r := range reps {
		if r.Status == s {
			return true
		}
	}
	return false
}

// stripped returns r as the unikernel parses it: its action and match.
func stripped(r ir.Rule) ir.Rule { return ir.Rule{Action: r.Action, Match: r.Match} }

// parseUnikernel parses line as pf-qubes does (Parse_qubes.parse_qubes, as
// the reference gives its grammar): action first, then at most one of
// dsthost, dst4 and dst6, proto, specialtarget, dstports (only after tcp or
// udp, only LO-HI), icmptype (only after icmp, 0 to 1000), dpi=NO, each at
// most once and in this order, separated by single spaces, and nothing
// after. The rule it returns has the action and match only.
func parseUnikernel(line string) (ir.Rule, error) {
	toks := strings.Split(line, " ")
	next := func(key string) (string, bool) {
		if len(toks) > 0 && strings.HasPrefix(toks[0], key+"=") {
			v := toks[0][len(key)+1:]
			toks = toks[1:]
			return v, true
		}
		return "", false
	}
	var r ir.Rule
	switch v, _ := next("action"); v {
	case "accept":
		r.Action = ir.Accept
	case "drop":
		r.Action = ir.Drop
	default:
		return ir.Rule{}, fmt.Errorf("no action first in %q", line)
	}
	if v, ok := next("dsthost"); ok {
		if err := domainNameHost(v); err != nil {
			return ir.Rule{}, err
		}
		r.Dst.Host = v
	} else if v, ok := next("dst4"); ok {
		p, err := netip.ParsePrefix(v)
		if err != nil || !p.Addr().Is4() {
			return ir.Rule{}, fmt.Errorf("dst4 %q", v)
		}
		r.Dst.Prefix = p
	} else if v, ok := next("dst6"); ok {
		p, err := netip.ParsePrefix(v)
		if err != nil || !p.Addr().Is6() {
			return ir.Rule{}, fmt.Errorf("dst6 %q", v)
		}
		r.Dst.Prefix = p
	}
	if v, ok := next("proto"); ok {
		switch v {
		case "tcp":
			r.Proto = ir.TCP
		case "udp":
			r.Proto = ir.UDP
		case "icmp":
			r.Proto = ir.ICMP
		default:
			return ir.Rule{}, fmt.Errorf("proto %q", v)
		}
	}
	if v, ok := next("specialtarget"); ok {
		if v != "dns" {
			return ir.Rule{}, fmt.Errorf("specialtarget %q", v)
		}
		r.DNS = true
	}
	if r.Proto == ir.TCP || r.Proto == ir.UDP {
		if v, ok := next("dstports"); ok {
			lo, hi, found := strings.Cut(v, "-")
			first, err1 := strconv.ParseUint(lo, 10, 16)
			last, err2 := strconv.ParseUint(hi, 10, 16)
			if !found || err1 != nil || err2 != nil {
				return ir.Rule{}, fmt.Errorf("dstports %q", v)
			}
			r.HasPorts, r.Ports = true, ir.PortRange{First: uint16(first), Last: uint16(last)}
		}
	}
	if r.Proto == ir.ICMP {
		if v, ok := next("icmptype"); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 1000 {
				return ir.Rule{}, fmt.Errorf("icmptype %q", v)
			}
			if n > 255 {
				return ir.Rule{}, fmt.Errorf("icmptype %d does not fit the rule model", n)
			}
			r.HasICMPType, r.ICMPType = true, uint8(n)
		}
	}
	if v, ok := next("dpi"); ok && v != "NO" {
		return ir.Rule{}, fmt.Errorf("dpi %q", v)
	}
	if len(toks) > 0 {
		return ir.Rule{}, fmt.Errorf("unexpected %q in %q", toks[0], line)
	}
	return r, nil
}

// domainNameHost reports whether Domain_name.of_string followed by
// Domain_name.host accepts name, as the reference describes them: an
// optional final dot; labels of 1 to 63 letters, digits and hyphens, none
// starting with a hyphen; at most 255 bytes on the wire; a letter in the
// last label.
func domainNameHost(name string) error {
	labels := strings.Split(strings.TrimSuffix(name, "."), ".")
	wire := 1
	for _, l := range labels {
		if len(l) < 1 || len(l) > 63 || l[0] == '-' {
			return fmt.Errorf("label %q of %q", l, name)
		}
		if strings.Trim(l, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "" {
			return fmt.Errorf("label %q of %q is not letters, digits and hyphens", l, name)
		}
		wire += 1 + len(l)
	}
	if wire > 255 {
		return fmt.Errorf("%q is %d bytes on the wire", name, wire)
	}
	if last := labels[len(labels)-1]; strings.Trim(last, "0123456789-") == "" {
		return errors.New("all-numeric last label")
	}
	return nil
}

// Shapes of the names a unikernel firewall qube's plan sends to qubesd: a
// qube name as qubesd's validate_name takes it, and a kernel that is one
// entry of the vm-kernels directory.
var (
	qubeNameRE   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,30}$`)
	kernelNameRE = regexp.MustCompile(`^[A-Za-z0-9_+-][A-Za-z0-9._+-]*$`)
	sha256RE     = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// FuzzProvisionInput checks what the policy and the flags give for a
// unikernel firewall qube: a release, a kernel hash, and the names Desired
// puts into properties. What is accepted has the shape qubesd and dom0's
// file system need, so that no name can reach outside the vm-kernels
// directory and no hash can match two spellings.
func FuzzProvisionInput(f *testing.F) {
	f.Add("0.9.5", "2BFB49696E59A8FFBB660399E52BD82FFADBD02437D282EB8DAAB568B3261999", "sys-mirage", "mirage-firewall", "sys-net", "green")
	f.Add("v0.9.1", "", "1fw", "..", "sys-fw", "red")
	f.Add("0.9", "xyz", "fw", "a/b", "fw", "")
	f.Add("v", strings.Repeat("0", 65), strings.Repeat("a", 32), ".hidden", "sys-net", "green")
	f.Fuzz(func(t *testing.T, version, sha, name, kernel, netvm, label string) {
		if rel, err := LookupRelease(version); err == nil {
			if rel.Version != strings.TrimPrefix(version, "v") {
				t.Fatalf("LookupRelease(%q) = %s", version, rel.Version)
			}
		} else if strings.Contains(err.Error(), "strconv.") {
			t.Fatalf("LookupRelease(%q): %v", version, err)
		}
		if got, err := parseSHA256(sha); err == nil {
			if !sha256RE.MatchString(got) || got != strings.ToLower(sha) {
				t.Fatalf("parseSHA256(%q) = %q", sha, got)
			}
		}
		rel := Releases()[len(Releases())-1]
		q, err := Desired(name, kernel, netvm, label, rel)
		if err != nil {
			return
		}
		for _, s := range []string{name, netvm, label} {
			if !qubeNameRE.MatchString(s) {
				t.Fatalf("Desired accepts the qube or label name %q", s)
			}
		}
		if !kernelNameRE.MatchString(kernel) || strings.Contains(kernel, "/") {
			t.Fatalf("Desired accepts the kernel name %q", kernel)
		}
		if q.Name != name || name == netvm {
			t.Fatalf("Desired(%q, netvm %q) = qube %q", name, netvm, q.Name)
		}
	})
}
