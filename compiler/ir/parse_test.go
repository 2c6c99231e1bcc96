package ir

import (
	"net/netip"
	"strings"
	"testing"
)

func pfx(s string) Dst  { return Dst{Prefix: netip.MustParsePrefix(s)} }
func host(s string) Dst { return Dst{Host: s} }

func TestParseDst(t *testing.T) {
	tests := []struct {
		in   string
		want Dst
	}{
		// Addresses become /32 and /128 prefixes.
		{"1.2.3.4", pfx("1.2.3.4/32")},
		{"0.0.0.0", pfx("0.0.0.0/32")},
		{"255.255.255.255", pfx("255.255.255.255/32")},
		{"2001:db8::1", pfx("2001:db8::1/128")},
		{"::1", pfx("::1/128")},
		{"::1.2.3.4", pfx("::102:304/128")},
		// IPv6 is canonicalised.
		{"2001:DB8::1", pfx("2001:db8::1/128")},
		{"2001:0db8:0000:0000:0000:0000:0000:0001", pfx("2001:db8::1/128")},
		{"FD09:24EF:4179::/48", pfx("fd09:24ef:4179::/48")},
		// Prefixes.
		{"0.0.0.0/0", pfx("0.0.0.0/0")},
		{"::/0", pfx("::/0")},
		{"10.0.0.0/8", pfx("10.0.0.0/8")},
		{"192.168.1.50/32", pfx("192.168.1.50/32")},
		{"4.4.4.0/24", pfx("4.4.4.0/24")},
		{"fd00::/8", pfx("fd00::/8")},
		{"2001:db8::1/128", pfx("2001:db8::1/128")},
		// Host names.
		{"github.com", host("github.com")},
		{"localhost", host("localhost")},
		{"a", host("a")},
		{"_dmarc.example.com", host("_dmarc.example.com")},
		{"xn--bcher-kva.example", host("xn--bcher-kva.example")},
		{"1password.com", host("1password.com")},
		{"a-b.c-d.e", host("a-b.c-d.e")},
		{"1.2.3.com", host("1.2.3.com")},
		{"ff.ff", host("ff.ff")},
		{"0xg.1", host("0xg.1")},
		{strings.Repeat("a", 63) + ".com", host(strings.Repeat("a", 63) + ".com")},
		{long253, host(long253)},
	}
	for _, tt := range tests {
		got, err := ParseDst(tt.in)
		if err != nil {
			t.Errorf("ParseDst(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseDst(%q) = %+v; want %+v", tt.in, got, tt.want)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("ParseDst(%q).Validate() = %v; want nil", tt.in, err)
		}
	}
}

// long253 is a host name of exactly 253 bytes, the most DNS allows.
var long253 = strings.Repeat(strings.Repeat("a", 62)+".", 4)[:252] + "b"

func TestParseDstErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `empty destination; want an IP address, a prefix or a host name`},
		{"1.2.3.4/24/8", `destination "1.2.3.4/24/8" has more than one "/"`},
		{"/8", `destination "/8" has no address before "/"`},

		// Prefix lengths.
		{"1.2.3.4/", `prefix length "" in "1.2.3.4/" is not a decimal number`},
		{"1.2.3.0/+24", `prefix length "+24" in "1.2.3.0/+24" is not a decimal number`},
		{"1.2.3.0/2_4", `prefix length "2_4" in "1.2.3.0/2_4" is not a decimal number`},
		{"1.2.3.4/ 32", `prefix length " 32" in "1.2.3.4/ 32" is not a decimal number`},
		{"1.0.0.0/08", `prefix length "08" in "1.0.0.0/08" has a leading zero; write "8"`},
		{"0.0.0.0/00", `prefix length "00" in "0.0.0.0/00" has a leading zero; write "0"`},
		{"1.2.3.4/33", `prefix length "33" in "1.2.3.4/33" is out of range; IPv4 allows 0 to 32`},
		{"::/129", `prefix length "129" in "::/129" is out of range; IPv6 allows 0 to 128`},
		{"::/99999999999999999999", `prefix length "99999999999999999999" in "::/99999999999999999999" is out of range; IPv6 allows 0 to 128`},

		// Host bits are rejected, naming the network.
		{"4.4.4.4/24", `prefix "4.4.4.4/24" has host bits set; write "4.4.4.0/24"`},
		{"10.1.2.3/8", `prefix "10.1.2.3/8" has host bits set; write "10.0.0.0/8"`},
		{"2001:DB8::1/32", `prefix "2001:DB8::1/32" has host bits set; write "2001:db8::/32"`},
		{"1.2.3.4/0", `prefix "1.2.3.4/0" has host bits set; write "0.0.0.0/0"`},

		// IPv4-mapped IPv6 and zones.
		{"::ffff:1.2.3.4", `"::ffff:1.2.3.4" is an IPv4-mapped IPv6 address, which firewall qubes treat as IPv6, so it never matches IPv4 traffic; write "1.2.3.4"`},
		{"::FFFF:102:304", `"::FFFF:102:304" is an IPv4-mapped IPv6 address, which firewall qubes treat as IPv6, so it never matches IPv4 traffic; write "1.2.3.4"`},
		{"::ffff:1.2.3.0/120", `"::ffff:1.2.3.0/120" is an IPv4-mapped IPv6 address, which firewall qubes treat as IPv6, so it never matches IPv4 traffic; write "1.2.3.0/24"`},
		{"::ffff:0.0.0.0/96", `"::ffff:0.0.0.0/96" is an IPv4-mapped IPv6 address, which firewall qubes treat as IPv6, so it never matches IPv4 traffic; write "0.0.0.0/0"`},
		{"fe80::1%eth0", `IPv6 address "fe80::1%eth0" has a zone; zones are not allowed`},
		{"fe80::1%eth0/64", `IPv6 address "fe80::1%eth0" has a zone; zones are not allowed`},

		// Malformed IPv6.
		{"1::2::3", `invalid IPv6 address "1::2::3": multiple :: in address (at ":3")`},
		{"2001:db8::g", `invalid IPv6 address "2001:db8::g": each colon-separated field must have at least one digit (at "g")`},
		{"[::1]", `invalid IPv6 address "[::1]": each colon-separated field must have at least one digit (at "[::1]")`},
		{"1.2.3.4:80", `invalid IPv6 address "1.2.3.4:80": unexpected character (at ":80")`},

		// Numeric names that resolvers read with inet_aton rules.
		{"010.1.1.1", `"010.1.1.1" is not a dotted-quad IPv4 address, but resolvers read it as 8.1.1.1; write "8.1.1.1"`},
		{"1.2.3.04", `"1.2.3.04" is not a dotted-quad IPv4 address, but resolvers read it as 1.2.3.4; write "1.2.3.4"`},
		{"1.2.3", `"1.2.3" is not a dotted-quad IPv4 address, but resolvers read it as 1.2.0.3; write "1.2.0.3"`},
		{"127.1", `"127.1" is not a dotted-quad IPv4 address, but resolvers read it as 127.0.0.1; write "127.0.0.1"`},
		{"0x7f.1", `"0x7f.1" is not a dotted-quad IPv4 address, but resolvers read it as 127.0.0.1; write "127.0.0.1"`},
		{"10", `"10" is not a dotted-quad IPv4 address, but resolvers read it as 0.0.0.10; write "0.0.0.10"`},
		{"3232235777", `"3232235777" is not a dotted-quad IPv4 address, but resolvers read it as 192.168.1.1; write "192.168.1.1"`},
		{"010.1.1.1/8", `"010.1.1.1" is not a dotted-quad IPv4 address, but resolvers read it as 8.1.1.1; write "8.1.1.1"`},
		{"127/8", `"127" is not a dotted-quad IPv4 address, but resolvers read it as 0.0.0.127; write "0.0.0.127"`},
		{"1.2.3.256", `"1.2.3.256" is neither an IPv4 address nor a host name; an IPv4 address is four decimal numbers from 0 to 255 without leading zeros`},
		{"1.2.3.4.5", `"1.2.3.4.5" is neither an IPv4 address nor a host name; an IPv4 address is four decimal numbers from 0 to 255 without leading zeros`},
		{"09.1.1.1", `"09.1.1.1" is neither an IPv4 address nor a host name; an IPv4 address is four decimal numbers from 0 to 255 without leading zeros`},
		{"4294967296", `"4294967296" is neither an IPv4 address nor a host name; an IPv4 address is four decimal numbers from 0 to 255 without leading zeros`},

		// Host names.
		{"example.com/8", `host name "example.com" cannot have a prefix length; only IP addresses can`},
		{"Example.com", `host name "Example.com" has uppercase letters; write "example.com"`},
		{"GITHUB.COM", `host name "GITHUB.COM" has uppercase letters; write "github.com"`},
		{"a b", `host name "a b" contains " "; allowed are a-z, 0-9, "-", "." and "_"`},
		{"a=b", `host name "a=b" contains "="; allowed are a-z, 0-9, "-", "." and "_"`},
		{"*.example.com", `host name "*.example.com" contains "*"; allowed are a-z, 0-9, "-", "." and "_"`},
		{"bücher.example", `host name "bücher.example" contains "ü"; allowed are a-z, 0-9, "-", "." and "_"`},
		{"a\xffb", `host name "a\xffb" contains "\xff"; allowed are a-z, 0-9, "-", "." and "_"`},
		{"1.2.3.4%eth0", `host name "1.2.3.4%eth0" contains "%"; allowed are a-z, 0-9, "-", "." and "_"`},
		{"a..b", `host name "a..b" has an empty label; labels are separated by single dots, with none at either end`},
		{".example.com", `host name ".example.com" has an empty label; labels are separated by single dots, with none at either end`},
		{"example.com.", `host name "example.com." has an empty label; labels are separated by single dots, with none at either end`},
		{".", `host name "." has an empty label; labels are separated by single dots, with none at either end`},
		{strings.Repeat("a", 64) + ".com", `host name "` + strings.Repeat("a", 64) + `.com" has a label of 64 bytes; at most 63 are allowed`},
		{long253 + "c", `host name "` + long253 + `c" is 254 bytes long; at most 253 are allowed`},
		{"-a.com", `label "-a" of host name "-a.com" starts or ends with "-"`},
		{"a-.com", `label "a-" of host name "a-.com" starts or ends with "-"`},
		{"a.-", `label "-" of host name "a.-" starts or ends with "-"`},
	}
	for _, tt := range tests {
		got, err := ParseDst(tt.in)
		if err == nil {
			t.Errorf("ParseDst(%q) = %+v; want error %q", tt.in, got, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParseDst(%q) error:\n got %s\nwant %s", tt.in, err, tt.want)
		}
	}
}

func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in   string
		want PortRange
	}{
		{"0", PortRange{0, 0}},
		{"80", PortRange{80, 80}},
		{"65535", PortRange{65535, 65535}},
		{"80-80", PortRange{80, 80}},
		{"1024-65535", PortRange{1024, 65535}},
		{"0-65535", PortRange{0, 65535}},
		{"0-0", PortRange{0, 0}},
	}
	for _, tt := range tests {
		got, err := ParsePortRange(tt.in)
		if err != nil {
			t.Errorf("ParsePortRange(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParsePortRange(%q) = %+v; want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParsePortRangeErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `empty port range; want "N" or "N-M"`},
		{"-", `port range "-": want "N" or "N-M"`},
		{"-1", `port range "-1": want "N" or "N-M"`},
		{"80-", `port range "80-": want "N" or "N-M"`},
		{"1-2-3", `port range "1-2-3": want "N" or "N-M"`},
		{"80--90", `port range "80--90": want "N" or "N-M"`},
		{"+80", `port "+80" is not a decimal number`},
		{"1_0", `port "1_0" is not a decimal number`},
		{" 80", `port " 80" is not a decimal number`},
		{"0x50", `port "0x50" is not a decimal number`},
		{"http", `port "http" is not a decimal number`},
		{"80,443", `port "80,443" is not a decimal number`},
		{"0080", `port "0080" has a leading zero; write "80"`},
		{"00", `port "00" has a leading zero; write "0"`},
		{"65536", `port "65536" is out of range; ports are 0 to 65535`},
		{"99999999999999999999", `port "99999999999999999999" is out of range; ports are 0 to 65535`},
		{"+80-90", `port "+80" in "+80-90" is not a decimal number`},
		{"80-090", `port "090" in "80-090" has a leading zero; write "90"`},
		{"1-65536", `port "65536" in "1-65536" is out of range; ports are 0 to 65535`},
		{"90-80", `port range "90-80" is reversed; want the lower port first`},
	}
	for _, tt := range tests {
		got, err := ParsePortRange(tt.in)
		if err == nil {
			t.Errorf("ParsePortRange(%q) = %+v; want error %q", tt.in, got, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParsePortRange(%q) error:\n got %s\nwant %s", tt.in, err, tt.want)
		}
	}
}

func TestCheckComment(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"git", ""},
		{"Allow HTTPS to the bank", ""},
		{"lan: printers [2nd floor]; a,b. c/d_e-f", ""},
		{"two  spaces inside", ""},
		{"a=b", `comment "a=b" contains "="; allowed are letters, digits, space and :;,./_[]-`},
		{"it's", `comment "it's" contains "'"; allowed are letters, digits, space and :;,./_[]-`},
		{`say "hi"`, `comment "say \"hi\"" contains "\""; allowed are letters, digits, space and :;,./_[]-`},
		{"#1", `comment "#1" contains "#"; allowed are letters, digits, space and :;,./_[]-`},
		{"tab\there", `comment "tab\there" contains "\t"; allowed are letters, digits, space and :;,./_[]-`},
		{"line\n", `comment "line\n" contains "\n"; allowed are letters, digits, space and :;,./_[]-`},
		{"café", `comment "café" contains "é"; allowed are letters, digits, space and :;,./_[]-`},
		{" leading", `comment " leading" starts or ends with a space`},
		{"trailing ", `comment "trailing " starts or ends with a space`},
		{" ", `comment " " starts or ends with a space`},
	}
	for _, tt := range tests {
		got := ""
		if err := CheckComment(tt.in); err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("CheckComment(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
