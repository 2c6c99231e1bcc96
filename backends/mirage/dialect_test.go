package mirage

import (
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/compiler/ir"
)

func TestFormatRule(t *testing.T) {
	tests := []struct {
		name string
		rule ir.Rule
		want string
	}{
		// dom0's default list (CA qubes/tests/vm/qubesvm.py).
		{"default", accept(ir.Match{}), "action=accept"},
		// CA qubes/tests/firewall.py test_005_qdb_entries.
		{"ports", drop(ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ports(80, 80)}), "action=drop proto=tcp dstports=80-80"},
		{"dns", accept(ir.Match{DNS: true}), "action=accept specialtarget=dns"},
		// Ports always LO-HI, also for one port; a range as it is.
		{"port range", accept(ir.Match{Dst: pfx("192.168.1.0/24"), Proto: ir.UDP, HasPorts: true, Ports: ports(1000, 2000)}), "action=accept dst4=192.168.1.0/24 proto=udp dstports=1000-2000"},
		{"port 0", accept(ir.Match{Proto: ir.UDP, HasPorts: true, Ports: ports(0, 65535)}), "action=accept proto=udp dstports=0-65535"},
		// An address keeps its /32, as dom0 writes it.
		{"address", accept(ir.Match{Dst: pfx("192.0.2.1/32")}), "action=accept dst4=192.0.2.1/32"},
		{"whole ipv4", drop(ir.Match{Dst: pfx("0.0.0.0/0")}), "action=drop dst4=0.0.0.0/0"},
		{"ipv6", drop(ir.Match{Dst: pfx("fd00::/8")}), "action=drop dst6=fd00::/8"},
		{"host", accept(ir.Match{Dst: host("github.com"), Proto: ir.TCP, HasPorts: true, Ports: ports(22, 22)}), "action=accept dsthost=github.com proto=tcp dstports=22-22"},
		{"icmp type", accept(ir.Match{Dst: pfx("10.0.0.0/8"), Proto: ir.ICMP, HasICMPType: true, ICMPType: 8}), "action=accept dst4=10.0.0.0/8 proto=icmp icmptype=8"},
		{"icmp type 0", accept(ir.Match{Proto: ir.ICMP, HasICMPType: true}), "action=accept proto=icmp icmptype=0"},
		{"icmp", drop(ir.Match{Proto: ir.ICMP}), "action=drop proto=icmp"},
		// The full order: dst, proto, specialtarget, dstports.
		{"order", accept(ir.Match{Dst: pfx("10.139.1.0/24"), Proto: ir.UDP, DNS: true, HasPorts: true, Ports: ports(53, 53)}), "action=accept dst4=10.139.1.0/24 proto=udp specialtarget=dns dstports=53-53"},
		// Never expire or comment.
		{"expire comment", ir.Rule{Action: ir.Accept, Expire: 2000000000, Comment: "temporary"}, "action=accept"},
	}
	for _, tt := range tests {
		if got := FormatRule(tt.rule); got != tt.want {
			t.Errorf("%s: FormatRule = %q; want %q", tt.name, got, tt.want)
		}
	}
}

func TestCheckHost(t *testing.T) {
	long := strings.Repeat("a", 63)
	name253 := strings.Join([]string{long, long, long, strings.Repeat("b", 61)}, ".")
	tests := []struct {
		host string
		want string // "" for accepted
	}{
		{"github.com", ""},
		{"a.b-c.example", ""},
		{"localhost", ""},
		{"xn--bcher-kva.example", ""},
		{"UPPER.Example", ""},
		// A trailing dot is the root: Domain_name.of_string drops it.
		{"example.com.", ""},
		// Domain_name.host checks only the first character for "-".
		{"a-.example", ""},
		{"1.example", ""},
		{"example.a1", ""},
		{long + ".example", ""},
		{name253, ""},
		{"", "empty host name"},
		{"_dmarc.example.com", `host name "_dmarc.example.com" contains "_"; the unikernel allows only letters, digits and "-" in host names`},
		{"my_host.example", `host name "my_host.example" contains "_"; the unikernel allows only letters, digits and "-" in host names`},
		{"host.123", `host name "host.123" ends in the all-numeric label "123"; the unikernel needs a letter in the last label`},
		{"-a.example", `label "-a" of host name "-a.example" starts with "-"`},
		{"a..example", `host name "a..example" has an empty label`},
		{".example", `host name ".example" has an empty label`},
		{long + "a.example", `host name "` + long + `a.example" has a label of 64 bytes; at most 63 are allowed`},
		{name253 + "b", `host name "` + name253 + `b" is 254 bytes long; at most 253 are allowed`},
	}
	for _, tt := range tests {
		err := checkHost(tt.host)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("checkHost(%q) = %q; want %q", tt.host, got, tt.want)
		}
	}
}
