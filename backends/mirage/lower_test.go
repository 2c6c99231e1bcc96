package mirage

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue/token"

	"github.com/qfw-dev/qfw/compiler/ir"
)

const now = 2000000000 // 2033-05-18T03:33:20Z

// mustLower lowers rules for client with rel at now.
func mustLower(t *testing.T, rules []ir.Rule, rel Release) *Lowering {
	t.Helper()
	l, err := Lower(client, rules, rel, now)
	if err != nil {
		t.Fatalf("Lower: %v", err)
	}
	return l
}

// diagLines returns ds as "severity: text" lines.
func diagLines(ds []Diagnostic) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Severity.String()+": "+d.Error())
	}
	return out
}

func TestLowerEntries(t *testing.T) {
	rules := []ir.Rule{
		accept(ir.Match{DNS: true}),
		drop(ir.Match{Dst: pfx("10.0.0.0/8")}),
		accept(ir.Match{Dst: pfx("192.0.2.1/32"), Proto: ir.TCP, HasPorts: true, Ports: ports(22, 22)}),
		accept(ir.Match{Dst: pfx("198.51.100.0/24"), Proto: ir.UDP, HasPorts: true, Ports: ports(1000, 2000)}),
		accept(ir.Match{Dst: pfx("0.0.0.0/0"), Proto: ir.ICMP, HasICMPType: true, ICMPType: 8}),
		{Action: ir.Accept, Match: ir.Match{Dst: pfx("203.0.113.0/24")}, Expire: now + 3600, Comment: "for an hour"},
	}
	l := mustLower(t, rules, latest)
	want := []Entry{
		{"/qubes-firewall/10.137.0.3/policy", "drop"},
		{"/qubes-firewall/10.137.0.3/0000", "action=accept specialtarget=dns"},
		{"/qubes-firewall/10.137.0.3/0001", "action=drop dst4=10.0.0.0/8"},
		{"/qubes-firewall/10.137.0.3/0002", "action=accept dst4=192.0.2.1/32 proto=tcp dstports=22-22"},
		{"/qubes-firewall/10.137.0.3/0003", "action=accept dst4=198.51.100.0/24 proto=udp dstports=1000-2000"},
		{"/qubes-firewall/10.137.0.3/0004", "action=accept dst4=0.0.0.0/0 proto=icmp icmptype=8"},
		{"/qubes-firewall/10.137.0.3/0005", "action=accept dst4=203.0.113.0/24"},
		{"/qubes-firewall/10.137.0.3", ""},
	}
	if !slices.Equal(l.Entries, want) {
		t.Errorf("Entries:\n%s\nwant:\n%s", entryLines(l.Entries), entryLines(want))
	}
	for i, r := range l.Rules {
		if r.Index != i || r.Status != Enforced || r.Key != want[i+1].Key || r.Value != want[i+1].Value {
			t.Errorf("Rules[%d] = %d %s %s %q; want %d enforced %s %q", i, r.Index, r.Status, r.Key, r.Value, i, want[i+1].Key, want[i+1].Value)
		}
	}
	if len(l.Diagnostics) != 0 {
		t.Errorf("Diagnostics:\n%s\nwant none", strings.Join(diagLines(l.Diagnostics), "\n"))
	}
}

func entryLines(es []Entry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintln(&b, e)
	}
	return b.String()
}

// Messages the tests expect more than once.
const (
	nameWarning = "the unikernel looks %s up for each new connection at the first DNS server in QubesDB (/qubes-primary-dns): " +
		"A records only (no IPv6), cached by TTL for at most 32 names, 5 s timeout; a failed lookup skips the rule, and open connections are not checked again when the answer changes"
	failOpen = "a drop by host name fails open in the unikernel: whenever it cannot resolve %s (a lookup times out after 5 s, fails, or finds no A record) it skips this rule, " +
		"and %s after it may then accept the traffic; drop by address instead, listing the host's addresses, or make sure that no later rule accepts what this one drops"
	dnsProto = "the unikernel ignores specialtarget=dns in a rule with a protocol, so this rule would %s to every destination, not only to the DNS servers; " +
		"remove the protocol and ports: specialtarget=dns alone already means tcp and udp port 53 to the DNS servers (in the policy, dns: true without a service)"
	namesBroken = "this rule never matches in release %s, which cannot resolve host names (%s): %s; use release 0.9.1 or later (0.9.5 is the latest), or write the host's addresses"
	reaches     = "this rule also lets the client reach other clients of this firewall (%s): the unikernel forwards traffic between its clients when the source's rules accept it, " +
		"where a Linux firewall qube blocks it whatever the rules; to keep qubes apart, deny %[1]s before this rule"
	ipv6Gap = "this IPv6 rule leaves key %s out of the client's IPv4 tree, and the unikernel stops reading at the gap, ignoring %s; " +
		"put IPv6 rules after all others, in a rule of their own with a later priority"
	ipv6Accept = "the unikernel has no IPv6 and drops all IPv6 traffic, so this IPv6 rule never accepts anything"
	badHost    = "the unikernel cannot parse this rule (%s) and, on a rule it cannot parse, drops all traffic from the client; write the host's addresses instead, or a name of letters, digits and \"-\""
)

const (
	broken090 = `its DNS client has no uplink, so every lookup fails with "No uplink interface"; fixed in 0.9.1 by #193 and #194`
	broken082 = `its lookups fail with "could not resolve" while it spins at 100% CPU, #158; fixed in 0.8.3`
)

// deny10 keeps clients apart, so that rules after it draw no warning
// about reaching them.
var deny10 = named(drop(ir.Match{Dst: pfx("10.0.0.0/8")}), "lan", 1)

func TestLowerDiagnostics(t *testing.T) {
	github := ir.Match{Dst: host("github.com"), Proto: ir.TCP, HasPorts: true, Ports: ports(22, 22)}
	tracker := ir.Match{Dst: host("tracker.example")}
	rest := named(accept(ir.Match{}), "rest", 9)
	tests := []struct {
		name    string
		release string
		rules   []ir.Rule
		want    []string
	}{
		// specialtarget=dns alone: port 53 to the DNS servers, as meant.
		{"dns", Latest, []ir.Rule{named(accept(ir.Match{DNS: true}), "dns", 2)}, nil},
		// With a protocol the unikernel drops the DNS restriction.
		{"dns udp", Latest, []ir.Rule{named(accept(ir.Match{DNS: true, Proto: ir.UDP, HasPorts: true, Ports: ports(53, 53)}), "dns", 2)}, []string{
			"error: policy.cue:2:3: allow.dns: " + fmt.Sprintf(dnsProto, "accept udp port 53"),
		}},
		{"dns tcp all ports", Latest, []ir.Rule{named(accept(ir.Match{DNS: true, Proto: ir.TCP}), "dns", 2)}, []string{
			"error: policy.cue:2:3: allow.dns: " + fmt.Sprintf(dnsProto, "accept all tcp"),
		}},
		{"dns drop udp", Latest, []ir.Rule{named(drop(ir.Match{DNS: true, Proto: ir.UDP}), "dns", 2)}, []string{
			"error: policy.cue:2:3: deny.dns: " + fmt.Sprintf(dnsProto, "drop all udp"),
		}},
		// Host names: broken in 0.8.2 and 0.9.0, working around them.
		{"name 0.8.2", "0.8.2", []ir.Rule{named(accept(github), "git", 2)}, []string{
			"error: policy.cue:2:3: allow.git: " + fmt.Sprintf(namesBroken, "0.8.2", broken082, "an accept by name never accepts"),
		}},
		{"name 0.8.3", "0.8.3", []ir.Rule{named(accept(github), "git", 2)}, []string{
			"warning: policy.cue:2:3: allow.git: " + fmt.Sprintf(nameWarning, "github.com"),
		}},
		{"name 0.9.0", "0.9.0", []ir.Rule{named(accept(github), "git", 2)}, []string{
			"error: policy.cue:2:3: allow.git: " + fmt.Sprintf(namesBroken, "0.9.0", broken090, "an accept by name never accepts"),
		}},
		{"name drop 0.9.0", "0.9.0", []ir.Rule{named(drop(tracker), "tracker", 2)}, []string{
			"error: policy.cue:2:3: deny.tracker: " + fmt.Sprintf(namesBroken, "0.9.0", broken090, "a drop by name never drops, and the rules after it decide instead"),
		}},
		{"name 0.9.1", "0.9.1", []ir.Rule{named(accept(github), "git", 2)}, []string{
			"warning: policy.cue:2:3: allow.git: " + fmt.Sprintf(nameWarning, "github.com"),
		}},
		{"name 0.7", "0.7", []ir.Rule{deny10, named(accept(github), "git", 2)}, []string{
			"warning: policy.cue:2:3: allow.git: the unikernel looks github.com up for each new connection at 91.239.100.100, a public resolver, not through the netvm, so its answers may differ from the client's: " +
				"A records only (no IPv6), cached by TTL for at most 32 names, 5 s timeout; a failed lookup skips the rule, and open connections are not checked again when the answer changes",
		}},
		// A drop by name fails open when a later rule may accept what it
		// drops.
		{"name drop then accept any", Latest, []ir.Rule{deny10, named(drop(tracker), "tracker", 2), rest}, []string{
			"error: policy.cue:2:3: deny.tracker: " + fmt.Sprintf(failOpen, "tracker.example", "allow.rest"),
		}},
		{"name drop then accept prefix", Latest, []ir.Rule{named(drop(tracker), "tracker", 2), named(accept(ir.Match{Dst: pfx("192.0.2.0/24"), Proto: ir.TCP, HasPorts: true, Ports: ports(443, 443)}), "web", 3)}, []string{
			"error: policy.cue:2:3: deny.tracker: " + fmt.Sprintf(failOpen, "tracker.example", "allow.web"),
		}},
		{"name drop then accept name", Latest, []ir.Rule{named(drop(tracker), "tracker", 2), named(accept(github), "git", 3)}, []string{
			"error: policy.cue:2:3: deny.tracker: " + fmt.Sprintf(failOpen, "tracker.example", "allow.git"),
			"warning: policy.cue:3:3: allow.git: " + fmt.Sprintf(nameWarning, "github.com"),
		}},
		// ... and is only warned about when nothing after it can.
		{"name drop last", Latest, []ir.Rule{named(drop(tracker), "tracker", 2)}, []string{
			"warning: policy.cue:2:3: deny.tracker: " + fmt.Sprintf(nameWarning, "tracker.example"),
		}},
		{"name drop then dns", Latest, []ir.Rule{named(drop(tracker), "tracker", 2), named(accept(ir.Match{DNS: true}), "dns", 3)}, []string{
			"warning: policy.cue:2:3: deny.tracker: " + fmt.Sprintf(nameWarning, "tracker.example"),
		}},
		{"name drop tcp then accept udp", Latest, []ir.Rule{
			named(drop(ir.Match{Dst: host("tracker.example"), Proto: ir.TCP}), "tracker", 2),
			named(accept(ir.Match{Dst: pfx("192.0.2.0/24"), Proto: ir.UDP}), "udp", 3),
		}, []string{
			"warning: policy.cue:2:3: deny.tracker: " + fmt.Sprintf(nameWarning, "tracker.example"),
		}},
		{"name drop then later drop", Latest, []ir.Rule{named(drop(tracker), "tracker", 2), named(drop(ir.Match{Dst: pfx("192.0.2.0/24")}), "net", 3)}, []string{
			"warning: policy.cue:2:3: deny.tracker: " + fmt.Sprintf(nameWarning, "tracker.example"),
		}},
		// A later accept in the other family cannot undo it.
		{"name drop then ipv6 accept", Latest, []ir.Rule{named(drop(tracker), "tracker", 2), named(accept(ir.Match{Dst: pfx("2001:db8::/32")}), "v6", 3)}, []string{
			"warning: policy.cue:2:3: deny.tracker: " + fmt.Sprintf(nameWarning, "tracker.example"),
			"warning: policy.cue:3:3: allow.v6: " + ipv6Accept,
		}},
		// The unikernel's parser refuses names Qubes stores.
		{"underscore", Latest, []ir.Rule{named(accept(ir.Match{Dst: host("my_host.example")}), "bad", 2)}, []string{
			"error: policy.cue:2:3: allow.bad: " + fmt.Sprintf(badHost, `host name "my_host.example" contains "_"; the unikernel allows only letters, digits and "-" in host names`),
		}},
		{"numeric tld", Latest, []ir.Rule{named(accept(ir.Match{Dst: host("host.123")}), "bad", 2)}, []string{
			"error: policy.cue:2:3: allow.bad: " + fmt.Sprintf(badHost, `host name "host.123" ends in the all-numeric label "123"; the unikernel needs a letter in the last label`),
		}},
		// IPv6 rules: a gap before IPv4 rules, never an accept.
		{"dst6 first", Latest, []ir.Rule{named(drop(ir.Match{Dst: pfx("fd00::/8")}), "lan6", 2), deny10, rest}, []string{
			"error: policy.cue:2:3: deny.lan6: " + fmt.Sprintf(ipv6Gap, "0000", "the 2 IPv4 rules after it, starting with deny.lan"),
		}},
		{"dst6 accept first", Latest, []ir.Rule{named(accept(ir.Match{Dst: pfx("2001:db8::1/128")}), "v6", 2), deny10}, []string{
			"error: policy.cue:2:3: allow.v6: " + fmt.Sprintf(ipv6Gap, "0000", "the IPv4 rule after it, deny.lan"),
		}},
		{"dst6 accept last", Latest, []ir.Rule{deny10, named(accept(ir.Match{Dst: pfx("2001:db8::1/128")}), "v6", 2)}, []string{
			"warning: policy.cue:2:3: allow.v6: " + ipv6Accept,
		}},
		{"dst6 drop last", Latest, []ir.Rule{deny10, named(drop(ir.Match{Dst: pfx("fd00::/8")}), "lan6", 2)}, nil},
		// Expired rules: a gap now; expiring ones: a gap later.
		{"expired first", Latest, []ir.Rule{{Action: ir.Accept, Expire: now, Origin: ir.Origin{Kind: ir.Allow, Name: "tmp", Pos: pos(2)}}, deny10}, []string{
			"error: policy.cue:2:3: allow.tmp: this rule expired at 2033-05-18T03:33:20Z, so dom0 no longer writes key 0000, and the unikernel stops reading at the gap, " +
				"ignoring the IPv4 rule after it, deny.lan; remove the rule, or set the list again so that dom0 drops it",
		}},
		{"expired last", Latest, []ir.Rule{deny10, {Action: ir.Accept, Expire: now - 1, Origin: ir.Origin{Kind: ir.Allow, Name: "tmp", Pos: pos(2)}}}, nil},
		{"expiring first", Latest, []ir.Rule{{Action: ir.Drop, Expire: now + 1, Origin: ir.Origin{Kind: ir.Deny, Name: "tmp", Pos: pos(2)}}, deny10, rest}, []string{
			"warning: policy.cue:2:3: deny.tmp: this rule expires at 2033-05-18T03:33:21Z; if dom0 rewrites the client's entries after that before dropping it (a qubesd restart loses the expiry timer), " +
				"key 0000 goes missing and the unikernel stops reading there, ignoring the 2 IPv4 rules after it, starting with deny.lan; where the rule can come last, give it the latest priority",
		}},
		// Client-to-client traffic: an accept reaching 10.137/16 or
		// 10.138/16 that no earlier drop covers.
		{"reach any", Latest, []ir.Rule{rest}, []string{
			"warning: policy.cue:9:3: allow.rest: " + fmt.Sprintf(reaches, "10.137.0.0/16 and 10.138.0.0/16"),
		}},
		{"reach whole ipv4", Latest, []ir.Rule{named(accept(ir.Match{Dst: pfx("0.0.0.0/0"), Proto: ir.ICMP}), "ping", 2)}, []string{
			"warning: policy.cue:2:3: allow.ping: " + fmt.Sprintf(reaches, "10.137.0.0/16 and 10.138.0.0/16"),
		}},
		{"reach one qube", Latest, []ir.Rule{named(accept(ir.Match{Dst: pfx("10.137.0.5/32"), Proto: ir.TCP, HasPorts: true, Ports: ports(22, 22)}), "ssh", 2)}, []string{
			"warning: policy.cue:2:3: allow.ssh: " + fmt.Sprintf(reaches, "10.137.0.0/16"),
		}},
		{"reach disposables", Latest, []ir.Rule{named(drop(ir.Match{Dst: pfx("10.137.0.0/16")}), "qubes", 1), rest}, []string{
			"warning: policy.cue:9:3: allow.rest: " + fmt.Sprintf(reaches, "10.138.0.0/16"),
		}},
		{"reach none", Latest, []ir.Rule{named(drop(ir.Match{Dst: pfx("10.137.0.0/16")}), "qubes", 1), named(drop(ir.Match{Dst: pfx("10.138.0.0/16")}), "disp", 2), rest}, nil},
		// A drop of tcp only leaves the rest of the range open.
		{"reach past tcp drop", Latest, []ir.Rule{named(drop(ir.Match{Dst: pfx("10.0.0.0/8"), Proto: ir.TCP}), "lan", 1), rest}, []string{
			"warning: policy.cue:9:3: allow.rest: " + fmt.Sprintf(reaches, "10.137.0.0/16 and 10.138.0.0/16"),
		}},
		// Rules read back from dom0 have no origin: named by key.
		{"no origin", Latest, []ir.Rule{drop(ir.Match{Dst: pfx("10.0.0.0/8")}), accept(ir.Match{DNS: true, Proto: ir.UDP})}, []string{
			"error: rule 0001: " + fmt.Sprintf(dnsProto, "accept all udp"),
		}},
	}
	for _, tt := range tests {
		l := mustLower(t, tt.rules, mustRelease(tt.release))
		if got := diagLines(l.Diagnostics); !slices.Equal(got, tt.want) {
			t.Errorf("%s: diagnostics:\n%s\nwant:\n%s", tt.name, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
		}
	}
}

// TestFailOpenAlso checks that the error about a drop by name points at
// the rule that undoes it too.
func TestFailOpenAlso(t *testing.T) {
	rules := []ir.Rule{deny10, named(drop(ir.Match{Dst: host("tracker.example")}), "tracker", 2), named(accept(ir.Match{}), "rest", 9)}
	l := mustLower(t, rules, latest)
	if len(l.Diagnostics) != 1 {
		t.Fatalf("diagnostics:\n%s\nwant one", strings.Join(diagLines(l.Diagnostics), "\n"))
	}
	d := l.Diagnostics[0]
	if d.Rule != 1 || d.Position() != pos(2) || !slices.Equal(d.InputPositions(), []token.Pos{pos(9)}) {
		t.Errorf("diagnostic at rule %d, %v, also %v; want rule 1, %v, also %v", d.Rule, d.Position(), d.InputPositions(), pos(2), pos(9))
	}
}

func TestLowerGap(t *testing.T) {
	rules := []ir.Rule{
		deny10,
		named(drop(ir.Match{Dst: pfx("fd00::/8")}), "lan6", 2),
		named(accept(ir.Match{DNS: true}), "dns", 3),
		{Action: ir.Accept, Expire: now - 10, Origin: ir.Origin{Kind: ir.Allow, Name: "old", Pos: pos(4)}},
		named(accept(ir.Match{Dst: pfx("192.0.2.0/24")}), "web", 5),
	}
	l := mustLower(t, rules, latest)
	want := []Entry{
		{"/qubes-firewall/10.137.0.3/policy", "drop"},
		{"/qubes-firewall/10.137.0.3/0000", "action=drop dst4=10.0.0.0/8"},
		{"/qubes-firewall/10.137.0.3", ""},
	}
	if !slices.Equal(l.Entries, want) {
		t.Errorf("Entries:\n%s\nwant:\n%s", entryLines(l.Entries), entryLines(want))
	}
	wantRules := []RuleReport{
		{0, "/qubes-firewall/10.137.0.3/0000", "action=drop dst4=10.0.0.0/8", Enforced, "drop all traffic to 10.0.0.0/8; " + howDrop},
		{1, "", "", IPv6Only, "not read: dom0 writes IPv6 rules to the IPv6 tree only, and the unikernel drops all IPv6 traffic"},
		{2, "/qubes-firewall/10.137.0.3/0002", "action=accept specialtarget=dns", Unread, "not read: the unikernel stops at the gap at key 0001"},
		{3, "", "", Expired, "not read: it expired at 2033-05-18T03:33:10Z, so dom0 does not write it"},
		{4, "/qubes-firewall/10.137.0.3/0004", "action=accept dst4=192.0.2.0/24", Unread, "not read: the unikernel stops at the gap at key 0001"},
	}
	if !slices.Equal(l.Rules, wantRules) {
		t.Errorf("Rules:\n%v\nwant:\n%v", l.Rules, wantRules)
	}
	wantDiags := []string{
		"error: policy.cue:2:3: deny.lan6: " + fmt.Sprintf(ipv6Gap, "0001", "the 2 IPv4 rules after it, starting with allow.dns"),
		"error: policy.cue:4:3: allow.old: this rule expired at 2033-05-18T03:33:10Z, so dom0 no longer writes key 0003, and the unikernel stops reading at the gap, " +
			"ignoring the IPv4 rule after it, allow.web; remove the rule, or set the list again so that dom0 drops it",
	}
	if got := diagLines(l.Diagnostics); !slices.Equal(got, wantDiags) {
		t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantDiags, "\n"))
	}
}

// TestLowerVoided checks that a rule the unikernel cannot parse voids the
// whole list it reads, but not the rules after a gap, which it never reads.
func TestLowerVoided(t *testing.T) {
	rules := []ir.Rule{
		deny10,
		named(accept(ir.Match{Dst: host("my_host.example")}), "bad", 2),
		named(accept(ir.Match{DNS: true}), "dns", 3),
		named(drop(ir.Match{Dst: pfx("fd00::/8")}), "lan6", 4),
		named(accept(ir.Match{Dst: host("other_host.example")}), "bad2", 5),
	}
	l := mustLower(t, rules, latest)
	const voided = "not enforced: the unikernel cannot parse rule 0001 and drops all traffic from the client instead"
	want := []struct {
		status Status
		how    string
	}{
		{Voided, voided},
		{Voided, `not enforced: the unikernel cannot parse this rule (host name "my_host.example" contains "_"; the unikernel allows only letters, digits and "-" in host names) and drops all traffic from the client instead`},
		{Voided, voided},
		{IPv6Only, "not read: dom0 writes IPv6 rules to the IPv6 tree only, and the unikernel drops all IPv6 traffic"},
		{Unread, "not read: the unikernel stops at the gap at key 0003"},
	}
	for i, w := range want {
		if r := l.Rules[i]; r.Status != w.status || r.How != w.how {
			t.Errorf("Rules[%d] = %s %q; want %s %q", i, r.Status, r.How, w.status, w.how)
		}
	}
	// Both names are errors; the one after the gap would be read once the
	// gap is gone.
	var errs []int
	for _, d := range l.Diagnostics {
		if d.Severity == Error {
			errs = append(errs, d.Rule)
		}
	}
	if !slices.Equal(errs, []int{1, 3, 4}) {
		t.Errorf("errors at rules %v; want [1 3 4]", errs)
	}
}

func TestLowerHow(t *testing.T) {
	rules := []ir.Rule{
		accept(ir.Match{DNS: true}),
		drop(ir.Match{Dst: pfx("192.168.0.0/16")}),
		accept(ir.Match{Dst: pfx("192.0.2.1/32"), Proto: ir.TCP, HasPorts: true, Ports: ports(22, 22)}),
		accept(ir.Match{Dst: pfx("198.51.100.0/24"), Proto: ir.UDP, HasPorts: true, Ports: ports(1000, 2000)}),
		accept(ir.Match{Dst: pfx("0.0.0.0/0"), Proto: ir.ICMP, HasICMPType: true, ICMPType: 8}),
		drop(ir.Match{Proto: ir.ICMP}),
		accept(ir.Match{Dst: host("github.com"), Proto: ir.TCP, HasPorts: true, Ports: ports(443, 443)}),
		accept(ir.Match{DNS: true, Proto: ir.UDP, HasPorts: true, Ports: ports(53, 53)}),
		accept(ir.Match{DNS: true, Dst: pfx("10.139.1.1/32")}),
		accept(ir.Match{}),
		accept(ir.Match{DNS: true, Dst: pfx("0.0.0.0/0")}),
	}
	const name = "to the IPv4 addresses of github.com, looked up at %s for each new connection (A records, cached by TTL, 5 s timeout; the rule is skipped if the lookup fails)"
	tests := []struct {
		release string
		want    []string
	}{
		{Latest, []string{
			"accept tcp and udp port 53 to the DNS servers in QubesDB (/qubes-primary-dns, /qubes-secondary-dns); " + howAccept,
			"drop all traffic to 192.168.0.0/16; " + howDrop,
			"accept tcp port 22 to 192.0.2.1; " + howAccept,
			"accept udp ports 1000-2000 to 198.51.100.0/24; " + howAccept,
			"accept icmp type 8 to any IPv4 address; " + howAccept,
			"drop all icmp to any IPv4 address; " + howDrop,
			"accept tcp port 443 " + fmt.Sprintf(name, "the first DNS server in QubesDB (/qubes-primary-dns)") + "; " + howAccept,
			"accept udp port 53 to any IPv4 address (specialtarget=dns is ignored in a rule with a protocol); " + howAccept,
			"accept tcp and udp port 53 to the DNS servers in QubesDB (/qubes-primary-dns, /qubes-secondary-dns) that are also 10.139.1.1; " + howAccept,
			"accept all traffic to any IPv4 address; " + howAccept,
			// The IPv4 half of a DNS rule Reorder split.
			"accept tcp and udp port 53 to the DNS servers in QubesDB (/qubes-primary-dns, /qubes-secondary-dns); " + howAccept,
		}},
		// The DNS servers are hard-coded before 0.8.1; names broken in 0.9.0.
		{"0.8.0", []string{
			"accept tcp and udp port 53 to the DNS servers 10.139.1.1 and 10.139.1.2; " + howAccept,
		}},
		{"0.9.0", []string{6: "accept tcp port 443 " + fmt.Sprintf(name, "the first DNS server in QubesDB (/qubes-primary-dns)") + ": never matches, as 0.9.0 cannot resolve names"}},
		{"0.7", []string{6: "accept tcp port 443 " + fmt.Sprintf(name, "91.239.100.100") + "; " + howAccept}},
	}
	for _, tt := range tests {
		l := mustLower(t, rules, mustRelease(tt.release))
		for i, w := range tt.want {
			if w == "" {
				continue
			}
			if got := l.Rules[i].How; got != w {
				t.Errorf("%s: Rules[%d].How = %q; want %q", tt.release, i, got, w)
			}
		}
	}
}

func TestLowerInput(t *testing.T) {
	rules := []ir.Rule{accept(ir.Match{})}
	tests := []struct {
		client  netip.Addr
		release Release
		want    string
	}{
		{netip.Addr{}, latest, "lower for the mirage firewall: the client has no IPv4 address"},
		{netip.MustParseAddr("fd09:24ef:4179::a89:3"), latest, "lower for the mirage firewall: client address fd09:24ef:4179::a89:3 is not IPv4; the unikernel reads rules for IPv4 clients only"},
		{netip.MustParseAddr("::ffff:10.137.0.3"), latest, "lower for the mirage firewall: client address ::ffff:10.137.0.3 is not IPv4; the unikernel reads rules for IPv4 clients only"},
		{client, Release{}, "lower for the mirage firewall: no release given"},
	}
	for _, tt := range tests {
		l, err := Lower(tt.client, rules, tt.release, now)
		if l != nil || err == nil || err.Error() != tt.want {
			t.Errorf("Lower(%v, %q) = %v, %v; want error %q", tt.client, tt.release.Version, l, err, tt.want)
		}
	}
}

// TestLowerEmpty checks an empty list: the unikernel reads no rule and
// drops everything, as Qubes does for an empty list.
func TestLowerEmpty(t *testing.T) {
	l := mustLower(t, nil, latest)
	want := []Entry{{"/qubes-firewall/10.137.0.3/policy", "drop"}, {"/qubes-firewall/10.137.0.3", ""}}
	if !slices.Equal(l.Entries, want) || len(l.Rules) != 0 || len(l.Diagnostics) != 0 {
		t.Errorf("Lower(nil) = %v, %v, %v; want %v and nothing else", l.Entries, l.Rules, l.Diagnostics, want)
	}
}

// TestLowerDeterministic lowers one list twice, and checks that the
// diagnostics come out sorted whatever order the checks ran in.
func TestLowerDeterministic(t *testing.T) {
	rules := []ir.Rule{
		named(accept(ir.Match{}), "rest", 9),
		named(drop(ir.Match{Dst: pfx("fd00::/8")}), "lan6", 2),
		named(drop(ir.Match{Dst: host("tracker.example")}), "tracker", 3),
		named(accept(ir.Match{DNS: true, Proto: ir.UDP}), "dns", 4),
		named(accept(ir.Match{}), "rest", 9),
	}
	a, b := mustLower(t, rules, latest), mustLower(t, rules, latest)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("two lowerings differ:\n%v\n%v", a, b)
	}
	sorted := slices.IsSortedFunc(a.Diagnostics, func(x, y Diagnostic) int {
		if x.Rule != y.Rule {
			return x.Rule - y.Rule
		}
		return int(y.Severity) - int(x.Severity)
	})
	if !sorted || len(a.Diagnostics) != 5 {
		t.Errorf("diagnostics not sorted by rule, errors first, or not 5:\n%s", strings.Join(diagLines(a.Diagnostics), "\n"))
	}
}

func TestLoweringErr(t *testing.T) {
	clean := mustLower(t, []ir.Rule{deny10}, latest)
	if err := clean.Err(); err != nil {
		t.Errorf("Err() = %v; want nil", err)
	}
	warned := mustLower(t, []ir.Rule{named(accept(ir.Match{}), "rest", 9)}, latest)
	if err := warned.Err(); err != nil {
		t.Errorf("Err() with warnings only = %v; want nil", err)
	}
	bad := mustLower(t, []ir.Rule{
		named(accept(ir.Match{DNS: true, Proto: ir.UDP}), "dns", 2),
		named(accept(ir.Match{}), "rest", 9),
	}, latest)
	want := "policy.cue:2:3: allow.dns: " + fmt.Sprintf(dnsProto, "accept all udp")
	if err := bad.Err(); err == nil || err.Error() != want {
		t.Errorf("Err() = %v; want %s", err, want)
	}
}

func TestDiagnostic(t *testing.T) {
	tests := []struct {
		d    Diagnostic
		want string
	}{
		{Diagnostic{Severity: Error, Rule: 2, Origin: ir.Origin{Kind: ir.Deny, Name: "lan", Pos: pos(3)}, Message: "m"}, "policy.cue:3:3: deny.lan: m"},
		{Diagnostic{Severity: Warning, Rule: 12, Message: "m"}, "rule 0012: m"},
		{Diagnostic{Severity: Warning, Rule: -1, Message: "100% m"}, "100% m"},
	}
	for _, tt := range tests {
		if got := tt.d.Error(); got != tt.want {
			t.Errorf("Error() = %q; want %q", got, tt.want)
		}
		format, args := tt.d.Msg()
		if got := fmt.Sprintf(format, args...); !strings.HasSuffix(tt.want, got) {
			t.Errorf("Msg() = %q; want a suffix of %q", got, tt.want)
		}
		if tt.d.Path() != nil || tt.d.Position() != tt.d.Origin.Pos {
			t.Errorf("Path() = %v, Position() = %v; want nil, %v", tt.d.Path(), tt.d.Position(), tt.d.Origin.Pos)
		}
	}
}
