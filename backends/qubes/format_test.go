package qubes

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"strings"
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
		checkLens(t, tt.r)
	}
}

// checkLens checks that RuleLen and ir.QubesDBLineLen, which Check uses to
// measure rules without formatting them, agree with the lines.
func checkLens(t *testing.T, r ir.Rule) {
	t.Helper()
	if got, want := RuleLen(r), len(FormatRule(r)); got != want {
		t.Errorf("RuleLen(%+v) = %d; want len(%q) = %d", r, got, FormatRule(r), want)
	}
	if got, want := ir.QubesDBLineLen(r), len(ir.QubesDBLine(r)); got != want {
		t.Errorf("ir.QubesDBLineLen(%+v) = %d; want len(%q) = %d", r, got, ir.QubesDBLine(r), want)
	}
}

// TestRuleLenRandom compares the measured lengths with the formatted ones
// on random rules, over every option and the widths of every number.
func TestRuleLenRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 5))
	num := func(max uint64) uint64 {
		// Spread over the number of digits, not the values.
		return rng.Uint64N(max+1) >> rng.UintN(64)
	}
	var rules []ir.Rule
	for range 20000 {
		r := ir.Rule{Action: ir.Action(1 + rng.IntN(2)), Match: ir.Match{Proto: ir.Proto(rng.IntN(4))}}
		if rng.IntN(2) == 0 {
			r.Expire = int64(num(uint64(ir.MaxExpire)))
		}
		switch rng.IntN(4) {
		case 0:
			r.Dst = host(strings.Repeat("h", 1+rng.IntN(60)) + ".example")
		case 1:
			var a [4]byte
			binary.BigEndian.PutUint32(a[:], rng.Uint32())
			r.Dst = ir.Dst{Prefix: netip.PrefixFrom(netip.AddrFrom4(a), rng.IntN(33)).Masked()}
		case 2:
			var a [16]byte
			binary.BigEndian.PutUint64(a[:8], rng.Uint64()>>rng.UintN(64))
			binary.BigEndian.PutUint64(a[8:], rng.Uint64()>>rng.UintN(64))
			r.Dst = ir.Dst{Prefix: netip.PrefixFrom(netip.AddrFrom16(a), rng.IntN(129)).Masked()}
		}
		r.DNS = rng.IntN(4) == 0
		if rng.IntN(2) == 0 {
			r.HasPorts, r.Ports = true, ports(uint16(num(65535)), uint16(num(65535)))
		}
		if rng.IntN(3) == 0 {
			r.HasICMPType, r.ICMPType = true, uint8(num(255))
		}
		if rng.IntN(2) == 0 {
			r.Comment = strings.Repeat("c", rng.IntN(100))
		}
		checkLens(t, r)
		rules = append(rules, r)
	}
	if got, want := PayloadLen(rules), len(Payload(rules)); got != want {
		t.Errorf("PayloadLen = %d; want %d", got, want)
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

// TestQubesDBKeyLen checks the length Check computes for QubesDB keys
// without building them.
func TestQubesDBKeyLen(t *testing.T) {
	for _, ip := range []netip.Addr{netip.MustParseAddr("10.137.0.3"), netip.MustParseAddr("fd09:24ef:4179::a89:3")} {
		for _, i := range []int{0, 9, 10, 999, 1000, 9999, 10000, 123456} {
			if got, want := len(ir.QubesDBDir(ip))+len("/")+max(4, ir.DigitsLen(int64(i))), len(ir.QubesDBKey(ip, i)); got != want {
				t.Errorf("measured length of the key of rule %d of %s = %d; want %d", i, ip, got, want)
			}
		}
	}
}
