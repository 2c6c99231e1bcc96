package qubes

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/compiler/ir"
)

var (
	ip4 = netip.MustParseAddr("10.137.0.3")
	ip6 = netip.MustParseAddr("fd09:24ef:4179::a89:3")
)

func TestEntries(t *testing.T) {
	dst4 := ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: pfx("192.168.1.0/24"), Proto: ir.TCP, HasPorts: true, Ports: ports(22, 22)}}
	dst6 := ir.Rule{Action: ir.Drop, Match: ir.Match{Dst: pfx("fd00::/8")}}
	const now = 2000000000
	tests := []struct {
		name  string
		ip    netip.Addr
		rules []ir.Rule
		want  []Entry
	}{
		// CA qubes/tests/vm/qubesvm.py, the default rule list.
		{"default", ip4, []ir.Rule{{Action: ir.Accept}}, []Entry{
			{Remove, "/qubes-firewall/10.137.0.3/", ""},
			{Write, "/qubes-firewall/10.137.0.3/policy", "drop"},
			{Write, "/qubes-firewall/10.137.0.3/0000", "action=accept"},
			{Write, "/qubes-firewall/10.137.0.3", ""},
		}},
		// [dst4 rule, dst6 rule]: 0000 for IPv4, 0001 for IPv6.
		{"ipv4 tree", ip4, []ir.Rule{dst4, dst6}, []Entry{
			{Remove, "/qubes-firewall/10.137.0.3/", ""},
			{Write, "/qubes-firewall/10.137.0.3/policy", "drop"},
			{Write, "/qubes-firewall/10.137.0.3/0000", "action=accept dst4=192.168.1.0/24 proto=tcp dstports=22-22"},
			{Write, "/qubes-firewall/10.137.0.3", ""},
		}},
		{"ipv6 tree", ip6, []ir.Rule{dst4, dst6}, []Entry{
			{Remove, "/qubes-firewall/fd09:24ef:4179::a89:3/", ""},
			{Write, "/qubes-firewall/fd09:24ef:4179::a89:3/policy", "drop"},
			{Write, "/qubes-firewall/fd09:24ef:4179::a89:3/0001", "action=drop dst6=fd00::/8"},
			{Write, "/qubes-firewall/fd09:24ef:4179::a89:3", ""},
		}},
		// The IPv6 directory is named by the canonical form of the address.
		{"ipv6 canonical", netip.MustParseAddr("FD09:24EF:4179:0000:0000:0000:0A89:0003"), nil, []Entry{
			{Remove, "/qubes-firewall/fd09:24ef:4179::a89:3/", ""},
			{Write, "/qubes-firewall/fd09:24ef:4179::a89:3/policy", "drop"},
			{Write, "/qubes-firewall/fd09:24ef:4179::a89:3", ""},
		}},
		// Names, DNS and any-destination rules go to both families;
		// expired rules (0 < Expire <= now) leave gaps, comments stay out.
		{"gaps", ip4, []ir.Rule{
			{Action: ir.Accept, Match: ir.Match{DNS: true}, Comment: "dns"},
			{Action: ir.Accept, Expire: now - 1, Match: ir.Match{Proto: ir.ICMP}},
			dst6,
			{Action: ir.Accept, Expire: now, Match: ir.Match{Dst: host("expired.example")}},
			{Action: ir.Accept, Expire: now + 1, Match: ir.Match{Dst: host("github.com"), Proto: ir.TCP, HasPorts: true, Ports: ports(22, 22)}},
			{Action: ir.Drop, Match: ir.Match{Dst: pfx("0.0.0.0/0")}},
			{Action: ir.Drop},
		}, []Entry{
			{Remove, "/qubes-firewall/10.137.0.3/", ""},
			{Write, "/qubes-firewall/10.137.0.3/policy", "drop"},
			{Write, "/qubes-firewall/10.137.0.3/0000", "action=accept specialtarget=dns"},
			{Write, "/qubes-firewall/10.137.0.3/0004", "action=accept dsthost=github.com proto=tcp dstports=22-22"},
			{Write, "/qubes-firewall/10.137.0.3/0005", "action=drop dst4=0.0.0.0/0"},
			{Write, "/qubes-firewall/10.137.0.3/0006", "action=drop"},
			{Write, "/qubes-firewall/10.137.0.3", ""},
		}},
		// A qube without an address in a family gets nothing for it.
		{"no address", netip.Addr{}, []ir.Rule{{Action: ir.Accept}}, nil},
	}
	for _, tt := range tests {
		got := Entries(tt.ip, tt.rules, now)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: Entries:\n%s\nwant:\n%s", tt.name, entryLines(got), entryLines(tt.want))
		}
	}
}

func TestEntriesIndexWidth(t *testing.T) {
	rules := make([]ir.Rule, 10001)
	for i := range rules {
		rules[i] = ir.Rule{Action: ir.Drop}
	}
	got := Entries(ip4, rules, 0)
	// rm, policy, 10001 rules, signal.
	if len(got) != 10004 {
		t.Fatalf("len(Entries) = %d; want 10004", len(got))
	}
	for i, want := range map[int]string{2: "/qubes-firewall/10.137.0.3/0000", 10001: "/qubes-firewall/10.137.0.3/9999", 10002: "/qubes-firewall/10.137.0.3/10000"} {
		if got[i].Path != want {
			t.Errorf("Entries[%d].Path = %q; want %q", i, got[i].Path, want)
		}
	}
}

func TestEntryString(t *testing.T) {
	tests := []struct {
		e    Entry
		want string
	}{
		{Entry{Remove, "/qubes-firewall/10.137.0.3/", ""}, `rm /qubes-firewall/10.137.0.3/`},
		{Entry{Write, "/qubes-firewall/10.137.0.3/0000", "action=accept"}, `write /qubes-firewall/10.137.0.3/0000 "action=accept"`},
		{Entry{Write, "/qubes-firewall/10.137.0.3", ""}, `write /qubes-firewall/10.137.0.3 ""`},
		{Entry{}, `invalid  ""`},
	}
	for _, tt := range tests {
		if got := tt.e.String(); got != tt.want {
			t.Errorf("%#v.String() = %q; want %q", tt.e, got, tt.want)
		}
	}
}

func entryLines(es []Entry) string {
	var b strings.Builder
	for _, e := range es {
		b.WriteString("\t" + e.String() + "\n")
	}
	return b.String()
}
