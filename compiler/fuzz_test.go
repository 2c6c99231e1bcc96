package compiler

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"cuelang.org/go/cue/errors"

	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/policy"
)

// The fuzz targets of this file check what the compiler makes of a rule's
// destinations and port ranges once parsed: it may drop and merge them,
// but the rule must match exactly the same packets afterwards, never more
// and never fewer. Seeds are in testdata/fuzz; go test runs them.

// FuzzPortRanges checks ir.MergeRanges on a comma-separated list of port
// ranges: the merged ranges cover exactly the ports of the list, sorted,
// and neither overlap nor touch.
func FuzzPortRanges(f *testing.F) {
	for _, s := range []string{
		"80", "80,443", "1-100,50-200", "1-10,11-20", "65535,0", "0-65535,22",
		"10-20,1-5,6-9,30", "443,443,443", "5-5,4-4,6-6", "100-200,300-400,201-299",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		var ranges []ir.PortRange
		for s := range strings.SplitSeq(list, ",") {
			r, err := ir.ParsePortRange(s)
			if err != nil {
				return
			}
			ranges = append(ranges, r)
		}
		var want [65536]bool
		for _, r := range ranges {
			for p := int(r.First); p <= int(r.Last); p++ {
				want[p] = true
			}
		}
		merged := ir.MergeRanges(append([]ir.PortRange(nil), ranges...))
		var got [65536]bool
		for i, r := range merged {
			if r.First > r.Last {
				t.Fatalf("ir.MergeRanges(%s) has the reversed range %d-%d", list, r.First, r.Last)
			}
			if i > 0 && int(merged[i-1].Last)+1 >= int(r.First) {
				t.Fatalf("ir.MergeRanges(%s) = %v: ranges %d and %d overlap, touch or are out of order", list, merged, i-1, i)
			}
			for p := int(r.First); p <= int(r.Last); p++ {
				got[p] = true
			}
		}
		for p := range got {
			if got[p] != want[p] {
				t.Fatalf("ir.MergeRanges(%s) = %v: port %d is in the result: %t, in the list: %t", list, merged, p, got[p], want[p])
			}
		}
	})
}

// FuzzDestinations checks how a rule's list of destinations is kept: every
// destination left out is matched in full by one kept, the kept ones are
// distinct, and "any" stands alone or the list is refused.
func FuzzDestinations(f *testing.F) {
	for _, s := range []string{
		"10.0.0.0/8,10.1.0.0/16", "10.1.0.0/16,10.0.0.0/8", "1.2.3.4,1.2.3.4", "example.com,example.com",
		"0.0.0.0/0,1.2.3.4", "::/0,0.0.0.0/0", "2001:db8::/32,2001:db8::1", "any", "any,1.2.3.4",
		"example.com,1.2.3.4/32,1.2.3.4", "10.0.0.0/8,10.0.0.0/8,10.0.0.1", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		r := &policy.Rule{}
		var all []ir.Dst
		for s := range strings.SplitSeq(list, ",") {
			r.To = append(r.To, policy.String{S: s})
			if s == "any" {
				continue
			}
			d, err := ir.ParseDst(s)
			if err != nil {
				return // the errors are FuzzParseDst's
			}
			all = append(all, d)
		}
		var failed []string
		fail := func(_ policy.String, format string, _ ...any) { failed = append(failed, format) }
		c := &compiler{}
		kept := c.targets(r, fail)
		hasAny := len(all) < len(r.To)
		switch {
		case hasAny && len(r.To) > 1:
			if len(failed) == 0 || kept != nil {
				t.Fatalf("targets(%q) = %v; want an error, as any cannot be listed with others", list, kept)
			}
			return
		case hasAny:
			if len(failed) != 0 || len(kept) != 1 || !kept[0].dst.IsAny() {
				t.Fatalf("targets(%q) = %v, %v; want any alone", list, kept, failed)
			}
			return
		}
		if len(failed) != 0 {
			t.Fatalf("targets(%q) fails with %v", list, failed)
		}
		for i, k := range kept {
			for _, o := range kept[:i] {
				if o.dst == k.dst {
					t.Fatalf("targets(%q) keeps %v twice", list, k.dst)
				}
			}
		}
		for _, d := range all {
			found := false
			for _, k := range kept {
				if within(d, k.dst) {
					found = true
					break
				}
			}
			if !found {
				t.Fatalf("targets(%q) = %v leaves out %v, which no kept destination matches in full", list, kept, d)
			}
		}
	})
}

// within reports whether destination d matches no address outside o.
func within(d, o ir.Dst) bool {
	if d == o {
		return true
	}
	return d.Prefix.IsValid() && o.Prefix.IsValid() && o.Prefix.Bits() <= d.Prefix.Bits() &&
		o.Prefix.Contains(d.Prefix.Addr())
}

// FuzzParseTime checks ParseTime, which reads expire and --now: UNIX
// seconds are taken exactly, and an RFC 3339 time prints back to the same
// instant, for the years RFC 3339 can write.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		"1700000000", "0", "-1", "253402214400", "2027-01-31T18:00:00Z", "2027-01-31T18:00:00+02:00",
		"2027-01-31T18:00:00.5Z", "2027-01-31", "9223372036854775807", "+10", "2027-02-30T00:00:00Z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseTime(s)
		if err != nil || tm.UTC().Year() < 0 || tm.UTC().Year() > 9999 {
			// RFC 3339 has four-digit years; callers refuse the others.
			return
		}
		again, err := ParseTime(tm.UTC().Format(time.RFC3339Nano))
		if err != nil {
			t.Fatalf("ParseTime(%q) = %v, which prints as %q that does not parse: %v", s, tm, tm.UTC().Format(time.RFC3339Nano), err)
		}
		if !again.Equal(tm) {
			t.Fatalf("ParseTime(%q) = %v, but its RFC 3339 form parses to %v", s, tm, again)
		}
	})
}

// fuzzInventory is the inventory FuzzPolicyRule compiles against.
const fuzzInventory = `{"qubes": {
	"work": {"ip": "10.137.0.11", "ip6": "fd09:24ef:4179::a89:b", "netvm": "sys-firewall"},
	"sys-firewall": {"ip": "10.137.0.6", "netvm": "sys-net", "provides_network": true},
	"sys-net": {"ip": "10.137.0.5", "provides_network": true}
}}`

// FuzzPolicyRule compiles a policy of one rule, to (a CUE string) with tcp
// port port (any CUE value written in place of one): from the file to the
// Qubes rules, the destination and ports read, and their errors. The
// errors have positions, speak of the policy and quote only what the
// user wrote; a rule that compiles matches exactly the destination and the
// port written, never more.
func FuzzPolicyRule(f *testing.F) {
	for _, s := range [][2]string{
		{"192.0.2.1", "443"}, {"192.0.2.0/24", `"1000-2000"`}, {"example.com", "0"}, {"2001:db8::/32", "65535"},
		{"any", "22"}, {"10.0.0.1/8", "80"}, {"192.0.2.1", "99999999999999999999"}, {"192.0.2.1", "-1"},
		{"192.0.2.1", `"80"`}, {"192.0.2.1", "80.5"}, {"192.0.2.1", "1e3"}, {"192.0.2.1", "0x50"},
		{"192.0.2.1", `"443-80"`}, {"192.0.2.1", "true"}, {"192.0.2.1", "null"}, {"Example.COM", "8_0"},
		{"192.0.2.1", "_"}, {"192.0.2.1", "01e1&0"}, {"192.0.2.1", "1M"}, {"192.0.2.1", `"\xda"`}, {"192.0.2.1", "int"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, to, port string) {
		if port == "" || strings.ContainsAny(port, "[]{}(),:\n\r/\\#") || !utf8.ValidString(to) || !utf8.ValidString(port) {
			// A port that ends the list or starts a comment makes another
			// policy; CUE reads bytes that are not UTF-8 as U+FFFD.
			return
		}
		src := fmt.Sprintf("package policy\n\nqubes: work: allow: r: {to: %s, tcp: [%s]}\n", strconv.Quote(to), port)
		dir := t.TempDir()
		for name, data := range map[string]string{"policy.cue": src, "inventory.json": fuzzInventory} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		p, errs := policy.Load(policy.Config{Args: []string{dir}})
		var res *Result
		if errs == nil {
			res, errs = Compile(p, Options{})
		}
		if errs != nil {
			checkPolicyErrors(t, src, port, errs)
			return
		}

		// What the rule says, where the fuzzer wrote a plain port.
		want, ok := portOf(port)
		if !ok {
			return
		}
		dst := ir.Dst{}
		if to != "any" {
			d, err := ir.ParseDst(to)
			if err != nil {
				t.Fatalf("to %q compiles, but ParseDst refuses it: %v", to, err)
			}
			dst = d
		}
		q := res.Program.Qubes[slices.IndexFunc(res.Program.Qubes, func(q ir.Qube) bool { return q.Name == "work" })]
		found := false
		for _, r := range q.Rules {
			if r.Origin.Name != "r" {
				continue
			}
			found = true
			if r.Action != ir.Accept || r.Proto != ir.TCP || !r.HasPorts || r.Ports != want || !within(r.Dst, dst) && !(dst.IsAny() && r.Dst.Prefix.Bits() == 0) {
				t.Fatalf("%s compiles to %q; want tcp %d-%d to %v", src, r.Match.String(), want.First, want.Last, dst)
			}
		}
		if !found {
			t.Fatalf("%s compiles to no rule of r; want tcp %d-%d to %v", src, want.First, want.Last, dst)
		}
	})
}

// portOf returns the port range that port, as written in the policy,
// stands for: a decimal number, or a quoted "N" or "N-M".
func portOf(port string) (ir.PortRange, bool) {
	if s, err := strconv.Unquote(port); err == nil && strings.HasPrefix(port, `"`) {
		r, err := ir.ParsePortRange(s)
		return r, err == nil
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || len(port) > 1 && port[0] == '0' {
		return ir.PortRange{}, false
	}
	return ir.PortRange{First: uint16(n), Last: uint16(n)}, true
}

// checkPolicyErrors fails t unless every error of compiling src, whose
// rule has the port port, has a position and a message in the policy's
// words, and a message about a port quotes it as src has it.
func checkPolicyErrors(t *testing.T, src, port string, errs errors.Error) {
	t.Helper()
	for _, e := range errors.Errors(errs) {
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		if !e.Position().IsValid() {
			t.Fatalf("%s: error without a position: %s", src, msg)
		}
		for _, bad := range []string{"_|_", "#Qube", "#Rule", "incomplete value", "non-concrete", "mismatched types", "strconv.", "Go struct field"} {
			if strings.Contains(msg, bad) {
				t.Fatalf("%s: error shows internals (%q): %s", src, bad, msg)
			}
		}
		if rest, ok := strings.CutPrefix(msg, "port "); ok && strings.HasPrefix(rest, `"`) {
			quoted, err := strconv.QuotedPrefix(rest)
			if err != nil {
				continue
			}
			// A number written otherwise (1M, 0x50) is quoted in decimal.
			v, _ := strconv.Unquote(quoted)
			if !strings.Contains(src, v) && !(digits(v) && !digits(port)) {
				t.Fatalf("%s: error quotes a port the policy does not have: %s", src, msg)
			}
		}
	}
}

// digits reports whether s is one or more decimal digits.
func digits(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }
