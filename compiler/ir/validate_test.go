package ir

import (
	"net/netip"
	"testing"
)

func TestRuleValidate(t *testing.T) {
	ports := func(first, last uint16) PortRange { return PortRange{First: first, Last: last} }
	tests := []struct {
		name string
		r    Rule
		want string
	}{
		// Valid rules.
		{"accept all", Rule{Action: Accept}, ""},
		{"drop all", Rule{Action: Drop}, ""},
		{"tcp port", Rule{Action: Accept, Match: Match{Proto: TCP, HasPorts: true, Ports: ports(443, 443)}}, ""},
		{"udp range", Rule{Action: Accept, Match: Match{Proto: UDP, HasPorts: true, Ports: ports(0, 65535)}}, ""},
		{"icmp type 0", Rule{Action: Accept, Match: Match{Proto: ICMP, HasICMPType: true}}, ""},
		{"dns", Rule{Action: Accept, Match: Match{DNS: true}}, ""},
		{"dns tcp", Rule{Action: Accept, Match: Match{DNS: true, Proto: TCP}}, ""},
		{"dns udp 53", Rule{Action: Accept, Match: Match{DNS: true, Proto: UDP, HasPorts: true, Ports: ports(53, 53)}}, ""},
		{"dns and destination", Rule{Action: Accept, Match: Match{DNS: true, Dst: pfx("10.139.1.0/24")}}, ""},
		{"dns and host", Rule{Action: Accept, Match: Match{DNS: true, Dst: host("dns.example")}}, ""},
		{"expire", Rule{Action: Drop, Expire: MaxExpire}, ""},
		{"comment", Rule{Action: Drop, Comment: "block: all"}, ""},

		// dom0's own checks.
		{"no action", Rule{}, `invalid action 0; want accept or drop`},
		{"bad action", Rule{Action: 3}, `invalid action 3; want accept or drop`},
		{"bad proto", Rule{Action: Accept, Match: Match{Proto: 4}}, `invalid protocol 4; want any, tcp, udp or icmp`},
		{"ports without proto", Rule{Action: Accept, Match: Match{HasPorts: true, Ports: ports(80, 80)}}, `dstports valid only for 'tcp' and 'udp' protocols`},
		{"ports with icmp", Rule{Action: Accept, Match: Match{Proto: ICMP, HasPorts: true, Ports: ports(80, 80)}}, `dstports valid only for 'tcp' and 'udp' protocols`},
		{"reversed ports", Rule{Action: Accept, Match: Match{Proto: TCP, HasPorts: true, Ports: ports(90, 80)}}, `port range 90-80 is reversed; want the lower port first`},
		{"icmp type with udp", Rule{Action: Accept, Match: Match{Proto: UDP, HasICMPType: true, ICMPType: 8}}, `icmptype valid only for 'icmp' protocol`},
		{"icmp type without proto", Rule{Action: Accept, Match: Match{HasICMPType: true}}, `icmptype valid only for 'icmp' protocol`},

		// What dom0 accepts and the agents mishandle.
		{"dns icmp", Rule{Action: Accept, Match: Match{DNS: true, Proto: ICMP}}, `specialtarget=dns cannot be combined with proto=icmp: the Linux agent emits invalid nft for it and blocks the qube; use proto tcp, udp or none`},
		{"dns other ports", Rule{Action: Accept, Match: Match{DNS: true, Proto: TCP, HasPorts: true, Ports: ports(1, 1024)}}, `specialtarget=dns with dstports 1-1024: the Linux agent silently skips a DNS rule whose ports are not exactly 53; use dstports 53-53 or none`},
		{"dns port 54", Rule{Action: Accept, Match: Match{DNS: true, Proto: UDP, HasPorts: true, Ports: ports(54, 54)}}, `specialtarget=dns with dstports 54-54: the Linux agent silently skips a DNS rule whose ports are not exactly 53; use dstports 53-53 or none`},

		// Invariants of the Go types.
		{"ports without HasPorts", Rule{Action: Accept, Match: Match{Proto: TCP, Ports: ports(80, 80)}}, `ports are set but HasPorts is false`},
		{"icmp type without HasICMPType", Rule{Action: Accept, Match: Match{Proto: ICMP, ICMPType: 8}}, `ICMP type is set but HasICMPType is false`},
		{"prefix and host", Rule{Action: Accept, Match: Match{Dst: Dst{Prefix: netip.MustParsePrefix("1.2.3.4/32"), Host: "a.example"}}}, `destination has both prefix 1.2.3.4/32 and host name "a.example"`},
		{"host is an address", Rule{Action: Accept, Match: Match{Dst: host("1.2.3.4")}}, `host name "1.2.3.4" is an IP address; use a prefix`},
		{"bad host", Rule{Action: Accept, Match: Match{Dst: host("a..b")}}, `host name "a..b" has an empty label; labels are separated by single dots, with none at either end`},
		{"host bits", Rule{Action: Accept, Match: Match{Dst: pfx("4.4.4.4/24")}}, `prefix "4.4.4.4/24" has host bits set; write "4.4.4.0/24"`},
		{"mapped", Rule{Action: Accept, Match: Match{Dst: pfx("::ffff:1.2.3.4/128")}}, `"::ffff:1.2.3.4/128" is an IPv4-mapped IPv6 address, which firewall qubes treat as IPv6, so it never matches IPv4 traffic; write "1.2.3.4/32"`},
		{"invalid prefix", Rule{Action: Accept, Match: Match{Dst: Dst{Prefix: netip.PrefixFrom(netip.MustParseAddr("1.2.3.4"), 33)}}}, `invalid prefix invalid Prefix`},
		{"negative expire", Rule{Action: Drop, Expire: -1}, `expire -1 is out of range; want 0 (never) or 1 to 253402214400`},
		{"late expire", Rule{Action: Drop, Expire: MaxExpire + 1}, `expire 253402214401 is out of range; want 0 (never) or 1 to 253402214400`},
		{"bad comment", Rule{Action: Drop, Comment: "a=b"}, `comment "a=b" contains "="; allowed are letters, digits, space and :;,./_[]-`},
	}
	for _, tt := range tests {
		got := ""
		if err := tt.r.Validate(); err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%s: Validate() = %q; want %q", tt.name, got, tt.want)
		}
	}
}
