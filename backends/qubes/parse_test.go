package qubes

import (
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// parseTests are API lines that ParseRule accepts, with the rule and
// FormatRule's canonical line. A row whose canonical line equals its input
// must also round-trip byte for byte.
var parseTests = []struct {
	line string
	want ir.Rule
	// canon is FormatRule's line; empty means the input is canonical.
	canon string
}{
	{"action=accept", ir.Rule{Action: ir.Accept}, ""},
	{"action=drop", ir.Rule{Action: ir.Drop}, ""},
	{"action=drop expire=2099450306 proto=udp", ir.Rule{Action: ir.Drop, Expire: 2099450306, Match: ir.Match{Proto: ir.UDP}}, ""},
	{"action=drop proto=tcp dstports=80-80", ir.Rule{Action: ir.Drop, Match: ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ports(80, 80)}}, ""},
	{"action=accept specialtarget=dns", ir.Rule{Action: ir.Accept, Match: ir.Match{DNS: true}}, ""},
	{"action=accept proto=icmp", ir.Rule{Action: ir.Accept, Match: ir.Match{Proto: ir.ICMP}}, ""},
	{"action=accept dst4=1.2.3.4/32", ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: pfx("1.2.3.4/32")}}, ""},
	{"action=accept dst4=0.0.0.0/0", ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: pfx("0.0.0.0/0")}}, ""},
	{"action=accept dst6=::/0", ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: pfx("::/0")}}, ""},
	{"action=drop dst4=192.168.0.0/16", ir.Rule{Action: ir.Drop, Match: ir.Match{Dst: pfx("192.168.0.0/16")}}, ""},
	{"action=accept dst6=fd09:24ef:4179::a89:3/128", ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: pfx("fd09:24ef:4179::a89:3/128")}}, ""},
	{"action=accept dsthost=github.com proto=tcp dstports=22-22 comment=git over ssh",
		ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: host("github.com"), Proto: ir.TCP, HasPorts: true, Ports: ports(22, 22)}, Comment: "git over ssh"}, ""},
	{"action=accept proto=tcp dstports=0-65535", ir.Rule{Action: ir.Accept, Match: ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ports(0, 65535)}}, ""},
	{"action=accept proto=udp dstports=0-0", ir.Rule{Action: ir.Accept, Match: ir.Match{Proto: ir.UDP, HasPorts: true, Ports: ports(0, 0)}}, ""},
	{"action=accept proto=icmp icmptype=8", ir.Rule{Action: ir.Accept, Match: ir.Match{Proto: ir.ICMP, HasICMPType: true, ICMPType: 8}}, ""},
	{"action=accept proto=icmp icmptype=0", ir.Rule{Action: ir.Accept, Match: ir.Match{Proto: ir.ICMP, HasICMPType: true}}, ""},
	{"action=accept dsthost=dns.example proto=udp specialtarget=dns dstports=53-53",
		ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: host("dns.example"), Proto: ir.UDP, DNS: true, HasPorts: true, Ports: ports(53, 53)}}, ""},
	{"action=accept dst4=10.139.1.0/24 specialtarget=dns", ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: pfx("10.139.1.0/24"), DNS: true}}, ""},
	{"action=accept comment=lan: printers [2nd floor]; a,b. c/d_e-f", ir.Rule{Action: ir.Accept, Comment: "lan: printers [2nd floor]; a,b. c/d_e-f"}, ""},
	{"action=accept comment=two  spaces", ir.Rule{Action: ir.Accept, Comment: "two  spaces"}, ""},

	// Accepted, but not in dom0's canonical form.
	{"action=accept dsthost=1.2.3.4", ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: pfx("1.2.3.4/32")}}, "action=accept dst4=1.2.3.4/32"},
	{"action=accept dsthost=2001:db8::1", ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: pfx("2001:db8::1/128")}}, "action=accept dst6=2001:db8::1/128"},
	{"action=accept dst4=2001:db8::1", ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: pfx("2001:db8::1/128")}}, "action=accept dst6=2001:db8::1/128"},
	{"action=accept dst6=1.2.3.4", ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: pfx("1.2.3.4/32")}}, "action=accept dst4=1.2.3.4/32"},
	{"action=accept dst6=2001:DB8::1/128", ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: pfx("2001:db8::1/128")}}, "action=accept dst6=2001:db8::1/128"},
	{"action=accept dstname=example.com", ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: host("example.com")}}, "action=accept dsthost=example.com"},
	{"action=accept dst4=example.com", ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: host("example.com")}}, "action=accept dsthost=example.com"},
	{"action=accept proto=tcp dstports=443", ir.Rule{Action: ir.Accept, Match: ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ports(443, 443)}}, "action=accept proto=tcp dstports=443-443"},
	{"proto=tcp dstports=443-443 action=accept", ir.Rule{Action: ir.Accept, Match: ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ports(443, 443)}}, "action=accept proto=tcp dstports=443-443"},
	{"dstports=53-53 specialtarget=dns proto=udp action=accept expire=1", ir.Rule{Action: ir.Accept, Expire: 1, Match: ir.Match{Proto: ir.UDP, DNS: true, HasPorts: true, Ports: ports(53, 53)}},
		"action=accept expire=1 proto=udp specialtarget=dns dstports=53-53"},
	{"action=accept comment=", ir.Rule{Action: ir.Accept}, "action=accept"},
}

func TestParseRule(t *testing.T) {
	for _, tt := range parseTests {
		got, err := ParseRule(tt.line)
		if err != nil {
			t.Errorf("ParseRule(%q): %v", tt.line, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseRule(%q) = %+v; want %+v", tt.line, got, tt.want)
		}
		canon := tt.canon
		if canon == "" {
			canon = tt.line
		}
		if f := FormatRule(got); f != canon {
			t.Errorf("FormatRule(ParseRule(%q)) = %q; want %q", tt.line, f, canon)
		}
	}
}

func TestParseRuleErrors(t *testing.T) {
	tests := []struct{ line, want string }{
		// Line structure (from_api_string).
		{"", `rule has no action; want action=accept or action=drop`},
		{"comment=no action", `rule has no action; want action=accept or action=drop`},
		{"proto=tcp dstports=80-80", `rule has no action; want action=accept or action=drop`},
		{" action=accept", `empty option; options are separated by single spaces`},
		{"action=accept ", `empty option; options are separated by single spaces`},
		{"action=accept  proto=tcp", `empty option; options are separated by single spaces`},
		{"action=accept  comment=x", `empty option; options are separated by single spaces`},
		{"action=accept proto", `option "proto" has no "="; want key=value`},
		{"action=accept\tproto=tcp", `invalid action "accept\tproto=tcp"; want accept or drop`},
		{"action=accept\n", `invalid action "accept\n"; want accept or drop`},
		{"action=accept action=drop", `option "action" already set`},
		{"action=accept dst4=1.2.3.4 dst6=::1", `option "dsthost" already set`},
		{"action=accept dst4=1.2.3.4 dst4=1.2.3.5", `option "dsthost" already set`},
		{"action=accept dsthost=a.example dstname=b.example", `option "dsthost" already set`},
		{"action=accept dstname=a.example dsthost=b.example", `option "dsthost" already set`},
		{"action=accept proto=tcp proto=udp", `option "proto" already set`},
		{"action=accept dpi=http", `unknown firewall option "dpi"; want action, proto, dsthost (or dst4, dst6, dstname), dstports, icmptype, specialtarget, expire or comment`},
		{"action=accept Proto=tcp", `unknown firewall option "Proto"; want action, proto, dsthost (or dst4, dst6, dstname), dstports, icmptype, specialtarget, expire or comment`},
		{"=accept", `unknown firewall option ""; want action, proto, dsthost (or dst4, dst6, dstname), dstports, icmptype, specialtarget, expire or comment`},
		{"action=acceptcomment=x", `"comment=" must follow a space`},
		{"action=accept comment=allow proto=tcp", `comment "allow proto=tcp" contains "="; comment must be the last option and cannot contain "="`},
		{"action=accept comment=it's", `comment "it's" contains "'"; allowed are letters, digits, space and :;,./_[]-`},
		{"action=accept comment=#1", `comment "#1" contains "#"; allowed are letters, digits, space and :;,./_[]-`},
		{"action=accept comment= x", `comment " x" starts or ends with a space`},
		{"action=accept comment=x ", `comment "x " starts or ends with a space`},

		// Choice options.
		{"action=ACCEPT", `invalid action "ACCEPT"; want accept or drop`},
		{"action=reject", `invalid action "reject"; want accept or drop`},
		{"action=", `invalid action ""; want accept or drop`},
		{"action=accept proto=icmpv6", `invalid proto "icmpv6"; want tcp, udp or icmp`},
		{"action=accept proto=TCP", `invalid proto "TCP"; want tcp, udp or icmp`},
		{"action=accept specialtarget=dhcp", `invalid specialtarget "dhcp"; want dns`},

		// dsthost, stricter than dom0.
		{"action=accept dsthost=", `empty destination; want an IP address, a prefix or a host name`},
		{"action=accept dsthost=127.1", `"127.1" is not a dotted-quad IPv4 address, but resolvers read it as 127.0.0.1; write "127.0.0.1"`},
		{"action=accept dsthost=010.1.1.1", `"010.1.1.1" is not a dotted-quad IPv4 address, but resolvers read it as 8.1.1.1; write "8.1.1.1"`},
		{"action=accept dsthost=1.2.3", `"1.2.3" is not a dotted-quad IPv4 address, but resolvers read it as 1.2.0.3; write "1.2.0.3"`},
		{"action=accept dsthost=Example.com", `host name "Example.com" has uppercase letters; write "example.com"`},
		{"action=accept dsthost=a..b", `host name "a..b" has an empty label; labels are separated by single dots, with none at either end`},
		{"action=accept dsthost=.anything", `host name ".anything" has an empty label; labels are separated by single dots, with none at either end`},
		{"action=accept dsthost=" + strings.Repeat("x", 64) + ".example", `host name "` + strings.Repeat("x", 64) + `.example" has a label of 64 bytes; at most 63 are allowed`},
		{"action=accept dst4=4.4.4.4/24", `prefix "4.4.4.4/24" has host bits set; write "4.4.4.0/24"`},
		{"action=accept dst4=1.2.3.4/08", `prefix length "08" in "1.2.3.4/08" has a leading zero; write "8"`},
		{"action=accept dst4=1.2.3.4/33", `prefix length "33" in "1.2.3.4/33" is out of range; IPv4 allows 0 to 32`},
		{"action=accept dst6=::1/129", `prefix length "129" in "::1/129" is out of range; IPv6 allows 0 to 128`},
		{"action=accept dst4=1.2.3.0/24/8", `destination "1.2.3.0/24/8" has more than one "/"`},
		{"action=accept dsthost=127/8", `"127" is not a dotted-quad IPv4 address, but resolvers read it as 0.0.0.127; write "0.0.0.127"`},
		{"action=accept dsthost=example.com/8", `host name "example.com" cannot have a prefix length; only IP addresses can`},
		{"action=accept dst6=::ffff:1.2.3.4", `"::ffff:1.2.3.4" is an IPv4-mapped IPv6 address, which firewall qubes treat as IPv6, so it never matches IPv4 traffic; write "1.2.3.4"`},
		{"action=accept dst6=fe80::1%eth0", `IPv6 address "fe80::1%eth0" has a zone; zones are not allowed`},

		// dstports, icmptype, expire.
		{"action=accept proto=tcp dstports=+80", `port "+80" is not a decimal number`},
		{"action=accept proto=tcp dstports=0080", `port "0080" has a leading zero; write "80"`},
		{"action=accept proto=tcp dstports=1_0", `port "1_0" is not a decimal number`},
		{"action=accept proto=tcp dstports=65536", `port "65536" is out of range; ports are 0 to 65535`},
		{"action=accept proto=tcp dstports=90-80", `port range "90-80" is reversed; want the lower port first`},
		{"action=accept proto=tcp dstports=80-90-100", `port range "80-90-100": want "N" or "N-M"`},
		{"action=accept proto=icmp icmptype=256", `icmptype "256" is out of range; want 0 to 255`},
		{"action=accept proto=icmp icmptype=008", `icmptype "008" has a leading zero; write "8"`},
		{"action=accept proto=icmp icmptype=echo", `icmptype "echo" is not a decimal number`},
		{"action=accept expire=abc", `expire "abc" is not a decimal number`},
		{"action=accept expire=-1", `expire "-1" is not a decimal number`},
		{"action=accept expire=", `expire "" is not a decimal number`},
		{"action=accept expire=0", `expire "0" is out of range; want 1 to 253402214400`},
		{"action=accept expire=0123", `expire "0123" has a leading zero; write "123"`},
		{"action=accept expire=253402214401", `expire "253402214401" is out of range; want 1 to 253402214400`},
		{"action=accept expire=99999999999999999999", `expire "99999999999999999999" is out of range; want 1 to 253402214400`},

		// Cross-field checks.
		{"action=accept dstports=80-80", `dstports valid only for 'tcp' and 'udp' protocols`},
		{"action=accept proto=icmp dstports=80-80", `dstports valid only for 'tcp' and 'udp' protocols`},
		{"action=accept proto=udp icmptype=8", `icmptype valid only for 'icmp' protocol`},
		{"action=accept icmptype=8", `icmptype valid only for 'icmp' protocol`},
		{"action=accept specialtarget=dns proto=icmp", `specialtarget=dns cannot be combined with proto=icmp: the Linux agent emits invalid nft for it and blocks the qube; use proto tcp, udp or none`},
		{"action=accept specialtarget=dns proto=tcp dstports=1-1024", `specialtarget=dns with dstports 1-1024: the Linux agent silently skips a DNS rule whose ports are not exactly 53; use dstports 53-53 or none`},
	}
	for _, tt := range tests {
		got, err := ParseRule(tt.line)
		if err == nil {
			t.Errorf("ParseRule(%q) = %+v; want error %q", tt.line, got, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParseRule(%q) error:\n got %s\nwant %s", tt.line, err, tt.want)
		}
	}
}
