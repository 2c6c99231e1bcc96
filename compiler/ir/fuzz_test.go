package ir

import (
	"strconv"
	"strings"
	"testing"
)

// The fuzz targets of this file check the parsers of rule values, which
// read the policy and the lines dom0 returns. Beyond not panicking, what a
// parser accepts must be valid, print in one canonical form, and parse
// from that form to the same value; and strict parsers must only accept
// that form in the first place, so that what the user wrote is what dom0
// stores. Seeds are in testdata/fuzz; go test runs them.

// FuzzParseDst checks ParseDst: an accepted destination is valid, prints as
// dom0 stores it, and parses back from that text to itself.
func FuzzParseDst(f *testing.F) {
	for _, s := range []string{
		"1.2.3.4", "10.0.0.0/8", "0.0.0.0/0", "2001:db8::/32", "2001:DB8::1", "::/0",
		"example.com", "a-b.example_1.org", "010.1.1.1", "0x7f.1", "1.2.3.4/08",
		"::ffff:1.2.3.4", "::ffff:0:0/96", "fe80::1%eth0", "4.4.4.4/24", "Example.com",
		"a..b", "-a.b", "1.2.3.4/33", "/8", "1.2.3.4//8", "1.2.3.4/-1", "é.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDst(s)
		if err != nil {
			checkMessage(t, s, err)
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("ParseDst(%q) = %+v, which Validate rejects: %v", s, d, err)
		}
		if d.IsAny() || d.Prefix.IsValid() == (d.Host != "") {
			t.Fatalf("ParseDst(%q) = %+v; want exactly one of a prefix and a host", s, d)
		}
		text := d.Host
		if d.Prefix.IsValid() {
			// WriteMatch prints the prefix with its length, as dom0 does.
			text = d.Prefix.String()
			if d.Prefix.Addr().Is4() && s != text && s != d.Prefix.Addr().String() {
				// IPv6 is canonicalised; an IPv4 address has one spelling.
				t.Fatalf("ParseDst(%q) = %s; an IPv4 destination must be taken as written", s, text)
			}
		} else if d.Host != s {
			t.Fatalf("ParseDst(%q) = host %q; a host name must be taken as written", s, d.Host)
		}
		again, err := ParseDst(text)
		if err != nil {
			t.Fatalf("ParseDst(%q) = %s, which does not parse again: %v", s, text, err)
		}
		if again != d {
			t.Fatalf("ParseDst(%q) = %+v, but its text %q parses to %+v", s, d, text, again)
		}
	})
}

// FuzzParsePortRange checks ParsePortRange: an accepted range is ordered,
// and its input is one of the two canonical spellings, "N" and "N-M".
func FuzzParsePortRange(f *testing.F) {
	for _, s := range []string{
		"80", "0", "65535", "1-1024", "443-443", "0-65535", "080", "+80", "1_0",
		"65536", "2-1", "-", "1-", "-1", "1-2-3", " 80", "99999999999999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParsePortRange(s)
		if err != nil {
			checkMessage(t, s, err)
			return
		}
		if r.First > r.Last {
			t.Fatalf("ParsePortRange(%q) = %d-%d, which is reversed", s, r.First, r.Last)
		}
		full := strconv.Itoa(int(r.First)) + "-" + strconv.Itoa(int(r.Last))
		if s != full && !(r.First == r.Last && s == strconv.Itoa(int(r.First))) {
			t.Fatalf("ParsePortRange(%q) = %s; only the canonical spelling may parse", s, full)
		}
		if again, err := ParsePortRange(full); err != nil || again != r {
			t.Fatalf("ParsePortRange(%q) = %s, which parses again to %+v, %v", s, full, again, err)
		}
	})
}

// FuzzParseDecimal checks ParseDecimal, which reads icmptype and expire:
// an accepted number is in range and written as strconv writes it.
func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"0", "8", "255", "256", "08", "-1", "+1", "1e3", "253402214400", "9223372036854775808"} {
		f.Add(s, int64(0), int64(255))
	}
	f.Add("1", int64(1), int64(MaxExpire))
	f.Fuzz(func(t *testing.T, s string, lo, hi int64) {
		n, err := ParseDecimal("value", s, lo, hi)
		if err != nil {
			checkMessage(t, s, err)
			return
		}
		if n < lo || n > hi {
			t.Fatalf("ParseDecimal(%q, %d, %d) = %d, out of range", s, lo, hi, n)
		}
		if got := strconv.FormatInt(n, 10); got != s {
			t.Fatalf("ParseDecimal(%q) = %d, which prints as %q", s, n, got)
		}
	})
}

// FuzzCheckComment checks CheckComment: an accepted comment survives being
// the last option of a line, which dom0 and ParseRule read to the end.
func FuzzCheckComment(f *testing.F) {
	for _, s := range []string{"", "ssh to build", "a=b", " lead", "trail ", "[x]: y;z,w./_-", "tab\t", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := CheckComment(s); err != nil {
			checkMessage(t, s, err)
			return
		}
		if strings.ContainsAny(s, "=\n\r\t\x00") || strings.TrimSpace(s) != s {
			t.Fatalf("CheckComment(%q) = nil; a comment with it does not read back as written", s)
		}
	})
}

// checkMessage fails t if err, the error of parsing in, speaks of Go
// internals instead of the input, or is not a lowercase message.
func checkMessage(t *testing.T, in string, err error) {
	t.Helper()
	msg := err.Error()
	for _, bad := range []string{"strconv.", "ParseAddr(", "netip.", "invalid syntax", "value out of range"} {
		if strings.Contains(msg, bad) {
			t.Fatalf("parsing %q: error %q shows Go internals (%q)", in, msg, bad)
		}
	}
	if msg == "" || 'A' <= msg[0] && msg[0] <= 'Z' && !strings.HasPrefix(msg, "IPv") {
		t.Fatalf("parsing %q: error %q does not start lowercase", in, msg)
	}
}
