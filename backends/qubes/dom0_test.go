package qubes

import (
	"strings"
	"testing"
)

// TestParseDom0Rule reads lines as dom0 does: what dom0 stores though qfw
// would not write it, in dom0's own form, and what dom0 refuses, with the
// reason.
func TestParseDom0Rule(t *testing.T) {
	for _, tc := range []struct{ line, want, err string }{
		{line: "action=accept", want: "action=accept"},
		{line: "  action=drop  ", want: "action=drop"},
		{line: "dstports=443 proto=tcp action=accept", want: "action=accept proto=tcp dstports=443-443"},
		{line: "action=accept proto=tcp dstports=+0080-1_000", want: "action=accept proto=tcp dstports=80-1000"},
		{line: "action=accept dst4=10.0.0.1/8", want: "action=accept dst4=10.0.0.1/8"},
		{line: "action=accept dst4=2001:DB8::1", want: "action=accept dst6=2001:DB8::1/128"},
		{line: "action=accept dst6=1.2.3.4", want: "action=accept dst4=1.2.3.4/32"},
		{line: "action=accept dsthost=", want: "action=accept dsthost="},
		{line: "action=accept dstname=010.1.1.1", want: "action=accept dsthost=010.1.1.1"},
		{line: "action=accept dst4=1.2.3.4/08", want: "action=accept dst4=1.2.3.4/08"},
		{line: "action=accept proto=icmp icmptype=008", want: "action=accept proto=icmp icmptype=8"},
		{line: "action=acceptcomment=glued", want: "action=accept comment=glued"},
		{line: "action=accept comment=", want: "action=accept"},
		{line: "expire=99 action=drop specialtarget=dns comment=a b", want: "action=drop expire=99 specialtarget=dns comment=a b"},

		{line: "", err: "an empty line"},
		{line: "action=accept  proto=tcp", err: "an empty option; options are key=value, separated by single spaces"},
		{line: "action", err: `option "action" has no "="; want key=value`},
		{line: "action=accept dpi=1", err: `unknown firewall option "dpi"`},
		{line: "action=accept dst4=1.2.3.4 dsthost=x", err: `option "dsthost" set twice`},
		{line: "proto=tcp", err: "no action; want action=accept or action=drop"},
		{line: "action=Accept", err: `action "Accept"; want accept or drop`},
		{line: "action=accept proto=icmpv6", err: `proto "icmpv6"; want tcp, udp or icmp`},
		{line: "action=accept dstports=80", err: "dstports without proto=tcp or proto=udp"},
		{line: "action=accept proto=tcp icmptype=8", err: "icmptype without proto=icmp"},
		{line: "action=accept proto=tcp dstports=65536", err: `dstports "65536" is out of 0-65535`},
		{line: "action=accept proto=tcp dstports=90-80", err: `dstports "90-80" ends before it starts`},
		{line: "action=accept proto=tcp dstports=1-2-3", err: `dstports "1-2-3" has more than one "-"`},
		{line: "action=accept proto=tcp dstports=8__0", err: `dstports "8__0": "8__0" is not a number`},
		{line: "action=accept proto=icmp icmptype=256", err: `icmptype "256" is over 255`},
		{line: "action=accept proto=icmp icmptype=0008", err: `icmptype "0008"; want at most 3 digits`},
		{line: "action=accept dst4=1.2.3.4/33", err: `prefix length "33" in "1.2.3.4/33" is over 32`},
		{line: "action=accept dst6=::/129", err: `prefix length "129" in "::/129" is over 128`},
		{line: "action=accept dst4=1.2.3.4/", err: `prefix length "" in "1.2.3.4/" is not a number`},
		{line: "action=accept dst4=1.2.3/8", err: `"1.2.3" in "1.2.3/8" is not an IP address`},
		{line: "action=accept dst4=a/b/c", err: `destination "a/b/c" has more than one "/"`},
		{line: "action=accept dsthost=Example.com", err: `host name "Example.com" holds 'E'; a host name takes a-z, 0-9, "-", "." and "_"`},
		{line: "action=accept dst6=fe80::1%eth0", err: `host name "fe80::1%eth0" holds ':'; a host name takes a-z, 0-9, "-", "." and "_"`},
		{line: "action=accept dst6=::ffff:1.2.3.4/96x", err: `prefix length "96x" in "::ffff:1.2.3.4/96x" is not a number`},
		{line: "action=accept expire=12a", err: `expire "12a"; want UNIX seconds, in digits`},
		{line: "action=accept expire=253402300800", err: `expire "253402300800" is past the year 9999`},
		{line: "action=accept comment=a=b", err: `comment "a=b" holds '='; a comment takes letters, digits, spaces and :;,./_[]-`},
		{line: "action=accept comment=caf\u00e9", err: "a non-ASCII character"},
		{line: "comment=x", err: "an empty option; options are key=value, separated by single spaces"},
	} {
		r, err := ParseDom0Rule(tc.line)
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("ParseDom0Rule(%q): error %v; want %q", tc.line, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("ParseDom0Rule(%q): %v", tc.line, err)
		case tc.err == "" && r.String() != tc.want:
			t.Errorf("ParseDom0Rule(%q) = %q; want %q", tc.line, r.String(), tc.want)
		}
	}
}

// FuzzParseDom0Rule checks that dom0's grammar takes every line qfw's
// takes, and keeps each line qfw writes as written, so that a Set is never
// refused and never reads back as drift; and that a line dom0 takes reads
// back from its own form unchanged.
func FuzzParseDom0Rule(f *testing.F) {
	for _, s := range ruleSeeds {
		f.Add(s)
	}
	for _, s := range []string{
		"action=accept", "action=accept proto=tcp dstports=443-443 comment=web",
		"action=drop dst4=192.168.0.0/16", "action=accept dst6=2001:db8::/32 proto=icmp icmptype=128",
		"action=accept specialtarget=dns", "action=accept expire=2000000000 dsthost=example.com",
		"dstports=+80 proto=udp action=accept", "action=accept dsthost=", "action=accept comment=a b c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		d, derr := ParseDom0Rule(line)
		if r, err := ParseRule(line); err == nil {
			if derr != nil {
				t.Fatalf("qfw takes %q but dom0 would refuse it: %v", line, derr)
			}
			// What qfw sends, dom0 keeps as sent: a list qfw set
			// reads back equal.
			sent := FormatRule(r)
			kept, err := ParseDom0Rule(sent)
			if err != nil {
				t.Fatalf("dom0 would refuse %q, which qfw writes for %q: %v", sent, line, err)
			}
			if kept.String() != sent {
				t.Fatalf("dom0 keeps %q, which qfw writes for %q, as %q", sent, line, kept.String())
			}
		}
		if derr != nil {
			return
		}
		again, err := ParseDom0Rule(d.String())
		if err != nil {
			t.Fatalf("dom0's form %q of %q does not read back: %v", d.String(), line, err)
		}
		if again.String() != d.String() {
			t.Fatalf("dom0's form %q of %q reads back as %q", d.String(), line, again.String())
		}
		if strings.ContainsAny(d.String(), "\n\x00") {
			t.Fatalf("dom0's form of %q spans lines", line)
		}
	})
}
