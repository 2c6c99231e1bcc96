package qubes

import (
	"testing"

	"github.com/qfw-dev/qfw/compiler/ir"
)

func TestFormatRule(t *testing.T) {
	tests := []struct {
		r        ir.Rule
		api, qdb string
	}{
		{ir.Rule{Action: ir.Accept}, "action=accept", "action=accept"},
		{ir.Rule{Action: ir.Drop}, "action=drop", "action=drop"},
		// CA qubes/tests/api_admin.py test_571.
		{ir.Rule{Action: ir.Drop, Expire: 2099450306, Match: ir.Match{Proto: ir.UDP}},
			"action=drop expire=2099450306 proto=udp", "action=drop proto=udp"},
		// CA qubes/tests/firewall.py test_005_qdb_entries.
		{ir.Rule{Action: ir.Drop, Match: ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ports(80, 80)}},
			"action=drop proto=tcp dstports=80-80", "action=drop proto=tcp dstports=80-80"},
		{ir.Rule{Action: ir.Accept, Match: ir.Match{DNS: true}},
			"action=accept specialtarget=dns", "action=accept specialtarget=dns"},
		// IP hosts always carry their prefix; the all-addresses prefixes stay.
		{ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: pfx("1.2.3.4/32")}},
			"action=accept dst4=1.2.3.4/32", "action=accept dst4=1.2.3.4/32"},
		{ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: pfx("0.0.0.0/0")}},
			"action=accept dst4=0.0.0.0/0", "action=accept dst4=0.0.0.0/0"},
		{ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: pfx("::/0")}},
			"action=accept dst6=::/0", "action=accept dst6=::/0"},
		{ir.Rule{Action: ir.Drop, Match: ir.Match{Dst: pfx("fd09:24ef:4179::/48")}},
			"action=drop dst6=fd09:24ef:4179::/48", "action=drop dst6=fd09:24ef:4179::/48"},
		{ir.Rule{Action: ir.Accept, Match: ir.Match{Proto: ir.ICMP, HasICMPType: true}},
			"action=accept proto=icmp icmptype=0", "action=accept proto=icmp icmptype=0"},
		{ir.Rule{Action: ir.Accept, Match: ir.Match{Proto: ir.ICMP, HasICMPType: true, ICMPType: 255}},
			"action=accept proto=icmp icmptype=255", "action=accept proto=icmp icmptype=255"},
		{ir.Rule{Action: ir.Accept, Match: ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ports(0, 65535)}},
			"action=accept proto=tcp dstports=0-65535", "action=accept proto=tcp dstports=0-65535"},
		{ir.Rule{Action: ir.Accept, Comment: "Allow git [ssh]: github"},
			"action=accept comment=Allow git [ssh]: github", "action=accept"},
		// Every option, in dom0's order.
		{ir.Rule{Action: ir.Accept, Expire: 1, Match: ir.Match{Dst: host("dns.example"), Proto: ir.UDP, DNS: true, HasPorts: true, Ports: ports(53, 53)}, Comment: "c",
			Origin: ir.Origin{Kind: ir.Allow, Name: "dns"}},
			"action=accept expire=1 dsthost=dns.example proto=udp specialtarget=dns dstports=53-53 comment=c",
			"action=accept dsthost=dns.example proto=udp specialtarget=dns dstports=53-53"},
		{ir.Rule{Action: ir.Drop, Expire: ir.MaxExpire, Match: ir.Match{Dst: pfx("10.0.0.0/8"), Proto: ir.ICMP, HasICMPType: true, ICMPType: 8}, Comment: "x"},
			"action=drop expire=253402214400 dst4=10.0.0.0/8 proto=icmp icmptype=8 comment=x",
			"action=drop dst4=10.0.0.0/8 proto=icmp icmptype=8"},
	}
	for _, tt := range tests {
		if got := FormatRule(tt.r); got != tt.api {
			t.Errorf("FormatRule(%+v) = %q; want %q", tt.r, got, tt.api)
		}
		if got := ir.QubesDBLine(tt.r); got != tt.qdb {
			t.Errorf("ir.QubesDBLine(%+v) = %q; want %q", tt.r, got, tt.qdb)
		}
	}
}

func TestPayload(t *testing.T) {
	rules := []ir.Rule{
		{Action: ir.Accept, Match: ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ports(443, 443)}},
		{Action: ir.Drop},
	}
	want := "action=accept proto=tcp dstports=443-443\naction=drop\n"
	if got := Payload(rules); got != want {
		t.Errorf("Payload = %q; want %q", got, want)
	}
	if got := Payload(nil); got != "" {
		t.Errorf("Payload(nil) = %q; want empty", got)
	}
}
