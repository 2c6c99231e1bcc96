package query

import (
	"testing"
)

func TestParseDest(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "192.0.2.1", want: "192.0.2.1"},
		{in: "192.0.2.1:443", want: "192.0.2.1:443"},
		{in: "192.0.2.1:443/tcp", want: "192.0.2.1:443"},
		{in: "192.0.2.1:53/udp", want: "192.0.2.1:53/udp"},
		{in: "192.0.2.1/icmp", want: "192.0.2.1/icmp"},
		{in: "any", want: "any"},
		{in: "any:22", want: "any:22"},
		{in: "any/udp", want: "any/udp"},
		{in: "github.com:22", want: "github.com:22"},
		{in: "2001:db8::1", want: "2001:db8::1"},
		{in: "2001:DB8::1", want: "2001:db8::1"},
		{in: "[2001:db8::1]", want: "2001:db8::1"},
		{in: "[2001:db8::1]:443/tcp", want: "[2001:db8::1]:443"},
		{in: "192.0.2.1:65535", want: "192.0.2.1:65535"},
		{in: "192.0.2.1/any", want: "192.0.2.1/any"},
		{in: "any/any", want: "any/any"},
		{in: "192.168.0.0/16", want: "192.168.0.0/16"},
		{in: "192.168.0.0/16/any", want: "192.168.0.0/16"},
		{in: "192.168.0.0/16/tcp", want: "192.168.0.0/16/tcp"},
		{in: "192.168.0.0/16:80/tcp", want: "192.168.0.0/16:80"},
		{in: "192.168.0.0/16:53/udp", want: "192.168.0.0/16:53/udp"},
		{in: "0.0.0.0/0/icmp", want: "0.0.0.0/0/icmp"},
		{in: "10.0.0.1-10.0.0.20", want: "10.0.0.1-10.0.0.20"},
		{in: "10.0.0.1-10.0.0.20:22", want: "10.0.0.1-10.0.0.20:22"},
		{in: "10.0.0.1-10.0.0.1", want: "10.0.0.1-10.0.0.1"},
		{in: "2001:db8::/32", want: "2001:db8::/32"},
		{in: "[2001:db8::/32]:443/udp", want: "[2001:db8::/32]:443/udp"},
		{in: "2001:db8::1-2001:db8::20", want: "2001:db8::1-2001:db8::20"},
		{in: "[2001:db8::1-2001:db8::20]:443", want: "[2001:db8::1-2001:db8::20]:443"},
		{in: "my-host.example:22", want: "my-host.example:22"},

		{in: "", err: "empty destination; want DEST[:PORT][/PROTO]"},
		{in: "192.0.2.1/", err: `no protocol after "/": want tcp, udp, icmp or any`},
		{in: "192.0.2.1/sctp", err: `unknown protocol "sctp": want tcp, udp, icmp or any`},
		{in: "192.0.2.1/TCP", err: `unknown protocol "TCP": want tcp, udp, icmp or any`},
		{in: "192.0.2.1/24", err: `prefix "192.0.2.1/24" has host bits set; write "192.0.2.0/24"`},
		{in: "192.0.2.0/33", err: `prefix length "33" in "192.0.2.0/33" is out of range; IPv4 allows 0 to 32`},
		{in: "192.0.2.0/24:80/any", err: "a port goes with tcp or udp, not with every protocol"},
		{in: "192.0.2.0/24/icmp:1", err: `unknown protocol "icmp:1": want tcp, udp, icmp or any`},
		{in: "10.0.0.20-10.0.0.1", err: `range "10.0.0.20-10.0.0.1": 10.0.0.20 comes after 10.0.0.1; want FIRST-LAST`},
		{in: "10.0.0.1-2001:db8::1", err: `range "10.0.0.1-2001:db8::1": 10.0.0.1 and 2001:db8::1 are of different families`},
		{in: "10.0.0.1-", err: `range "10.0.0.1-": "" is not an IP address; want FIRST-LAST, two addresses of one family`},
		{in: "10.0.0.1-10.0.0.2/24", err: `range "10.0.0.1-10.0.0.2/24": "10.0.0.2/24" is not an IP address; want FIRST-LAST, two addresses of one family`},
		{in: "10.0.0.1-fe80::1%eth0", err: "want a plain IPv4 or IPv6 address, without zone or IPv4 mapping"},
		{in: "[10.0.0.0/8]:80", err: "brackets hold an IPv6 address, prefix or range only"},
		{in: "2001:db8::/32:80", err: `prefix length "32:80" in "2001:db8::/32:80" is not a decimal number`},
		{in: "192.0.2.1:0", err: "port 0: no connection goes to port 0; want a port from 1 to 65535"},
		{in: "192.0.2.1:65536", err: `port "65536": want a number from 1 to 65535`},
		{in: "192.0.2.1:-1", err: `port "-1": want a number from 1 to 65535`},
		{in: "192.0.2.1:+1", err: `port "+1": want a number from 1 to 65535`},
		{in: "192.0.2.1:080", err: `port "080": want a number from 1 to 65535`},
		{in: "192.0.2.1:", err: `no port after ":"`},
		{in: "192.0.2.1:22/icmp", err: "icmp has no ports; give the ICMP type with --icmp-type"},
		{in: ":22", err: "no address or host name"},
		{in: "/udp", err: "no address or host name"},
		{in: "[2001:db8::1", err: "missing ] after the IPv6 address"},
		{in: "[2001:db8::1]443", err: "want [IPV6-ADDRESS]:PORT"},
		{in: "[192.0.2.1]:80", err: "brackets hold an IPv6 address, prefix or range only"},
		{in: "[any]", err: "brackets hold an IPv6 address, prefix or range only"},
		{in: "fe80::1%eth0", err: "want a plain IPv4 or IPv6 address, without zone or IPv4 mapping"},
		{in: "::ffff:192.0.2.1", err: "want a plain IPv4 or IPv6 address, without zone or IPv4 mapping"},
		{in: "300.1.1.1", err: `"300.1.1.1" is neither an IPv4 address nor a host name; an IPv4 address is four decimal numbers from 0 to 255 without leading zeros`},
		{in: "GitHub.com", err: `host name "GitHub.com" has uppercase letters; write "github.com"`},
	}
	for _, tt := range tests {
		d, err := ParseDest(tt.in)
		switch {
		case tt.err != "" && err == nil:
			t.Errorf("ParseDest(%q) = %q; want error %q", tt.in, d, tt.err)
		case tt.err != "" && err.Error() != tt.err:
			t.Errorf("ParseDest(%q): error %q; want %q", tt.in, err, tt.err)
		case tt.err == "" && err != nil:
			t.Errorf("ParseDest(%q): error %q; want %q", tt.in, err, tt.want)
		case tt.err == "" && d.String() != tt.want:
			t.Errorf("ParseDest(%q) = %q; want %q", tt.in, d, tt.want)
		}
	}
}

// FuzzParseDest checks that ParseDest reads back what Dest.String
// writes: a destination ParseDest accepts has one meaning, which its
// formatting keeps.
func FuzzParseDest(f *testing.F) {
	for _, s := range []string{
		"192.0.2.1", "192.0.2.1:443", "192.0.2.1:53/udp", "10.0.0.1/icmp", "any", "any:22/udp",
		"github.com:22", "2001:db8::1", "[2001:db8::1]:443/tcp", "[::1]", "::1:443",
		"192.0.2.0/24", "192.0.2.1:0", "192.0.2.1:65536", "[192.0.2.1]:80", "fe80::1%eth0",
		"192.0.2.1/any", "192.168.0.0/16:80/tcp", "192.168.0.0/16/tcp", "10.0.0.1-10.0.0.20",
		"[2001:db8::/32]:443/udp", "2001:db8::1-2001:db8::20/icmp", "my-host.example", "10.0.0.1-x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDest(s)
		if err != nil {
			return
		}
		text := d.String()
		again, err := ParseDest(text)
		if err != nil {
			t.Fatalf("ParseDest(%q) = %q, which it refuses: %v", s, text, err)
		}
		if again != d {
			t.Fatalf("ParseDest(%q) = %+v, formatted %q, read back as %+v", s, d, text, again)
		}
		if again.String() != text {
			t.Fatalf("ParseDest(%q) formatted %q, then %q", s, text, again.String())
		}
	})
}
