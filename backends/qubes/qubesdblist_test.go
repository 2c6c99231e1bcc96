package qubes

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// kv makes the entries of a client's list from key, value pairs under
// /qubes-firewall/<ip>/.
func kv(ip netip.Addr, pairs ...string) []Entry {
	var out []Entry
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, Entry{Op: Write, Path: ir.QubesDBDir(ip) + "/" + pairs[i], Value: pairs[i+1]})
	}
	return out
}

func TestParseQubesDBList(t *testing.T) {
	drop := ir.Rule{Action: ir.Drop}
	tests := []struct {
		name    string
		ip      netip.Addr
		entries []Entry
		want    []ir.Rule
	}{
		// CA qubes/tests/vm/qubesvm.py: the default list.
		{"default", ip4, kv(ip4, "policy", "drop", "0000", "action=accept"), []ir.Rule{{Action: ir.Accept}, drop}},
		// In any order, with gaps, sorted by number; every option dom0
		// writes, in its order or not.
		{"gaps and order", ip4, kv(ip4,
			"0012", "action=drop",
			"policy", "drop",
			"0003", "proto=tcp action=accept dstports=22-22 dst4=192.168.1.0/24",
			"0000", "action=accept specialtarget=dns",
			"0010", "action=accept dsthost=github.com proto=tcp dstports=443-443",
			"0011", "action=accept proto=icmp icmptype=8",
		), []ir.Rule{
			{Action: ir.Accept, Match: ir.Match{DNS: true}},
			{Action: ir.Accept, Match: ir.Match{Dst: pfx("192.168.1.0/24"), Proto: ir.TCP, HasPorts: true, Ports: ports(22, 22)}},
			{Action: ir.Accept, Match: ir.Match{Dst: host("github.com"), Proto: ir.TCP, HasPorts: true, Ports: ports(443, 443)}},
			{Action: ir.Accept, Match: ir.Match{Proto: ir.ICMP, HasICMPType: true, ICMPType: 8}},
			drop, drop,
		}},
		{"ipv6", ip6, kv(ip6, "policy", "drop", "0001", "action=drop dst6=fd00::/8", "0002", "action=accept"), []ir.Rule{
			{Action: ir.Drop, Match: ir.Match{Dst: pfx("fd00::/8")}},
			{Action: ir.Accept}, drop,
		}},
		// No rules: the policy alone.
		{"policy only", ip4, kv(ip4, "policy", "drop"), []ir.Rule{drop}},
		{"policy accept", ip6, kv(ip6, "policy", "accept"), []ir.Rule{{Action: ir.Accept}}},
	}
	for _, tt := range tests {
		got, err := ParseQubesDBList(tt.ip, tt.entries)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: ParseQubesDBList = %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
}

func TestParseQubesDBListErrors(t *testing.T) {
	const d4, d6 = "/qubes-firewall/10.137.0.3/", "/qubes-firewall/fd09:24ef:4179::a89:3/"
	tests := []struct {
		ip      netip.Addr
		entries []Entry
		want    string
	}{
		{ip4, nil, d4 + "policy: missing; dom0 writes it with every list"},
		{ip4, kv(ip4, "0000", "action=accept"), d4 + "policy: missing; dom0 writes it with every list"},
		{ip4, kv(ip4, "policy", "reject"), d4 + `policy: "reject"; want accept or drop`},
		{ip4, kv(ip4, "policy", ""), d4 + `policy: ""; want accept or drop`},
		{ip4, kv(ip4, "policy", "drop", "policy", "drop"), d4 + "policy: given twice"},
		// Four digits exactly: a fifth is a 10,001st rule, which the
		// Linux agent refuses too.
		{ip4, kv(ip4, "policy", "drop", "10000", "action=accept"), d4 + `10000: unknown key "10000"; want policy or a rule number of four digits such as 0000`},
		{ip4, kv(ip4, "policy", "drop", "000a", "action=accept"), d4 + `000a: unknown key "000a"; want policy or a rule number of four digits such as 0000`},
		{ip4, kv(ip4, "policy", "drop", "0000/x", "action=accept"), d4 + `0000/x: unknown key "0000/x"; want policy or a rule number of four digits such as 0000`},
		{ip4, kv(ip4, "policy", "drop", "", "action=accept"), d4 + `: unknown key ""; want policy or a rule number of four digits such as 0000`},
		{ip4, kv(ip6, "policy", "drop"), d6 + "policy: not in the list of 10.137.0.3, which is under " + d4},
		{ip4, []Entry{{Op: Remove, Path: d4}}, d4 + ": rm is not a key; want the keys of the list as written"},
		// Options dom0 keeps to itself.
		{ip4, kv(ip4, "policy", "drop", "0000", "action=accept expire=1700000000"), d4 + `0000 "action=accept expire=1700000000": option "expire" is not one dom0 writes for a firewall qube; want action, proto, dst4, dst6, dsthost, dstports, specialtarget or icmptype`},
		{ip4, kv(ip4, "policy", "drop", "0000", "action=accept comment=x"), d4 + `0000 "action=accept comment=x": option "comment" is not one dom0 writes for a firewall qube; want action, proto, dst4, dst6, dsthost, dstports, specialtarget or icmptype`},
		{ip4, kv(ip4, "policy", "drop", "0000", "action=accept dstname=a.example"), d4 + `0000 "action=accept dstname=a.example": option "dstname" is not one dom0 writes for a firewall qube; want action, proto, dst4, dst6, dsthost, dstports, specialtarget or icmptype`},
		{ip4, kv(ip4, "policy", "drop", "0000", "action=accept dpi=NO"), d4 + `0000 "action=accept dpi=NO": option "dpi" is not one dom0 writes for a firewall qube; want action, proto, dst4, dst6, dsthost, dstports, specialtarget or icmptype`},
		// A destination of the other family.
		{ip4, kv(ip4, "policy", "drop", "0001", "action=accept dst6=fd00::/8"), d4 + `0001 "action=accept dst6=fd00::/8": dst6 in the list of an IPv4 address; dom0 writes IPv6 destinations into the IPv6 list only`},
		{ip6, kv(ip6, "policy", "drop", "0001", "action=accept dst4=10.0.0.0/8"), d6 + `0001 "action=accept dst4=10.0.0.0/8": dst4 in the list of an IPv6 address; dom0 writes IPv4 destinations into the IPv4 list only`},
		{ip4, kv(ip4, "policy", "drop", "0001", "action=accept dst4=fd00::/8"), d4 + `0001 "action=accept dst4=fd00::/8": dst4 fd00::/8 is an IPv6 prefix, in the list of an IPv4 address`},
		{ip6, kv(ip6, "policy", "drop", "0001", "action=accept dst6=10.0.0.0/8"), d6 + `0001 "action=accept dst6=10.0.0.0/8": dst6 10.0.0.0/8 is an IPv4 prefix, in the list of an IPv6 address`},
		{ip4, kv(ip4, "policy", "drop", "0001", "action=accept dsthost=10.0.0.1"), d4 + `0001 "action=accept dsthost=10.0.0.1": dsthost 10.0.0.1/32 is an address; dom0 writes addresses as dst4 or dst6`},
		// What ParseRule refuses, in its words.
		{ip4, kv(ip4, "policy", "drop", "0000", ""), d4 + `0000 "": rule has no action; want action=accept or action=drop`},
		{ip4, kv(ip4, "policy", "drop", "0000", "action=accept  proto=tcp"), d4 + `0000 "action=accept  proto=tcp": empty option; options are separated by single spaces`},
		{ip4, kv(ip4, "policy", "drop", "0000", "action=accept dsthost=a=b"), d4 + `0000 "action=accept dsthost=a=b": host name "a=b" contains "="; allowed are a-z, 0-9, "-", "." and "_"`},
		{ip4, kv(ip4, "policy", "drop", "0000", "action=accept dst4=10.0.0.1/8"), d4 + `0000 "action=accept dst4=10.0.0.1/8": prefix "10.0.0.1/8" has host bits set; write "10.0.0.0/8"`},
		{ip4, kv(ip4, "policy", "drop", "0000", "action=accept action=drop"), d4 + `0000 "action=accept action=drop": option "action" already set`},
		{ip4, kv(ip4, "policy", "drop", "0000", "action=accept proto=tcp dstports=0-65536"), d4 + `0000 "action=accept proto=tcp dstports=0-65536": port "65536" in "0-65536" is out of range; ports are 0 to 65535`},
		{netip.Addr{}, nil, `client address "invalid IP" is not an IPv4 or IPv6 address`},
		{netip.MustParseAddr("::ffff:10.137.0.3"), nil, `client address "::ffff:10.137.0.3" is not an IPv4 or IPv6 address`},
	}
	for _, tt := range tests {
		got, err := ParseQubesDBList(tt.ip, tt.entries)
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseQubesDBList(%s, %v) = %+v, %v;\nwant error %s", tt.ip, tt.entries, got, err, tt.want)
		}
	}
}

// qubesDB is a QubesDB as far as Entries writes it: keys and values.
type qubesDB map[string]string

func (db qubesDB) do(entries []Entry) {
	for _, e := range entries {
		switch e.Op {
		case Remove:
			for k := range db {
				if strings.HasPrefix(k, e.Path) {
					delete(db, k)
				}
			}
		case Write:
			db[e.Path] = e.Value
		}
	}
}

// list returns the keys under /qubes-firewall/<ip>/, as a firewall qube
// reads them, in no particular order.
func (db qubesDB) list(ip netip.Addr) []Entry {
	var out []Entry
	for k, v := range db {
		if strings.HasPrefix(k, ir.QubesDBDir(ip)+"/") {
			out = append(out, Entry{Op: Write, Path: k, Value: v})
		}
	}
	return out
}

// FuzzQubesDBList checks ParseQubesDBList against Entries: the rules of
// lines (one a line, those ParseRule takes) that dom0 writes for each
// address of a client at time now read back as the rules of that family's
// list, without expiry and comment, then the policy. Then it puts a
// hostile key and value into the list: ParseQubesDBList never panics, and
// what it accepts is a valid list that ends with the policy and that dom0
// could have written.
func FuzzQubesDBList(f *testing.F) {
	f.Add(strings.Join(ruleSeeds, "\n"), int64(1700000000), "0003", "action=accept dst6=::/0")
	f.Add("action=accept dst4=10.0.0.0/8\naction=drop dst6=fd00::/8\naction=accept", int64(0), "policy", "accept")
	f.Add("action=accept proto=icmp icmptype=8", int64(0), "0000", "action=drop expire=1")
	f.Add("", int64(0), "9999", "action=accept dsthost=a.example proto=udp dstports=53-53")
	f.Fuzz(func(t *testing.T, lines string, now int64, key, value string) {
		// A few hundred rules at most: enough for every shape of list, and
		// the fuzzer stays fast (10,000 is the benchmark's).
		var rules []ir.Rule
		for line := range strings.SplitSeq(lines, "\n") {
			if r, err := ParseRule(line); err == nil && len(rules) < 300 {
				rules = append(rules, r)
			}
		}
		for _, ip := range []netip.Addr{fuzzQube.IP, fuzzQube.IP6} {
			db := qubesDB{}
			db.do(Entries(ip, rules, now))
			want := ir.FamilyRules(rules, family(ip), now)
			for i := range want {
				want[i].Expire, want[i].Comment = 0, ""
			}
			want = append(want, ir.Rule{Action: ir.Drop})
			got, err := ParseQubesDBList(ip, db.list(ip))
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("the list dom0 writes for %s of %q reads back as %+v, %v; want %+v", ip, lines, got, err, want)
			}

			db[ir.QubesDBDir(ip)+"/"+key] = value
			got, err = ParseQubesDBList(ip, db.list(ip))
			if err != nil {
				// The error is about the hostile key: "PATH: cause" or
				// "PATH "VALUE": cause".
				msg := err.Error()
				rest, ok := strings.CutPrefix(msg, ir.QubesDBDir(ip)+"/"+key)
				if !ok {
					t.Fatalf("error %q does not name the key %q", msg, key)
				}
				rest = strings.TrimPrefix(rest, " "+strconv.Quote(value))
				cause, ok := strings.CutPrefix(rest, ": ")
				if !ok {
					t.Fatalf("error %q: no cause after the key", msg)
				}
				checkMessage(t, value, cause)
				continue
			}
			if len(got) == 0 || got[len(got)-1].Match != (ir.Match{}) {
				t.Fatalf("list %v reads as %+v, which does not end with the policy", db.list(ip), got)
			}
			// dom0 could have written it: as its own list, the rules
			// come back the same.
			again := qubesDB{}
			again.do(Entries(ip, got[:len(got)-1], 0))
			again[ir.QubesDBDir(ip)+"/policy"] = got[len(got)-1].Action.String()
			if back, err := ParseQubesDBList(ip, again.list(ip)); err != nil || !slices.Equal(back, got) {
				t.Fatalf("list %v reads as %+v, which written again reads as %+v, %v", db.list(ip), got, back, err)
			}
			for _, r := range got {
				if err := r.Validate(); err != nil {
					t.Fatalf("list %v reads as %+v, with an invalid rule: %v", db.list(ip), got, err)
				}
				if f := r.Dst.Family(); f != 0 && f != family(ip) {
					t.Fatalf("list %v of %s reads as %+v, with a destination of the other family", db.list(ip), ip, got)
				}
			}
		}
	})
}

// BenchmarkParseQubesDBList reads the longest list dom0 can write, 10,000
// rules.
func BenchmarkParseQubesDBList(b *testing.B) {
	rules := make([]ir.Rule, 10000)
	for i := range rules {
		rules[i] = ir.Rule{Action: ir.Accept, Match: ir.Match{
			Dst:   pfx(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24).String()),
			Proto: ir.TCP, HasPorts: true, Ports: ports(uint16(i), uint16(i)),
		}}
	}
	db := qubesDB{}
	db.do(Entries(ip4, rules, 0))
	entries := db.list(ip4)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseQubesDBList(ip4, entries); err != nil {
			b.Fatal(err)
		}
	}
}
