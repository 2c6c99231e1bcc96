package qubes

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// The fuzz targets of this file check the two forms of a Qubes rule line:
// the Admin API form, which qfw reads back from dom0 and sends with
// admin.vm.firewall.Set, and the QubesDB form, which dom0 writes for the
// firewall qube. Seeds are in testdata/fuzz; go test runs them.

// ruleSeeds are lines in both forms, canonical or not, valid or not.
var ruleSeeds = []string{
	"action=accept",
	"action=drop",
	"action=accept dst4=10.0.0.0/8 proto=tcp dstports=22-22 comment=ssh to build",
	"action=drop expire=1700000000 dsthost=example.com proto=udp dstports=53-53",
	"proto=icmp icmptype=8 action=accept dst6=2001:DB8::/32",
	"action=accept specialtarget=dns",
	"action=accept proto=tcp specialtarget=dns dstports=53",
	"action=accept dstname=a.example dstports=443 proto=tcp",
	"action=accept dst4=2001:db8::1",
	"action=accept dsthost=1.2.3.4/32",
	"action=accept comment=",
	"action=accept comment=a=b",
	"action=acceptcomment=x",
	"comment=x action=accept",
	"action=accept  proto=tcp",
	" action=accept",
	"action=accept expire=0",
	"action=accept expire=253402214401",
	"action=accept proto=icmp icmptype=256",
	"action=accept proto=icmp icmptype=08",
	"action=accept proto=tcp dstports=0080",
	"action=accept proto=icmp specialtarget=dns",
	"action=accept proto=udp specialtarget=dns dstports=1-100",
	"action=accept dpi=NO",
	"action=accept action=drop",
	// Host names whose /dns/<ip>/<host> key crashes the agent, for the
	// IPv4 and the IPv6 address of fuzzQube.
	"action=accept dsthost=" + strings.Repeat("a", 47),
	"action=accept dsthost=" + strings.Repeat("b", 36),
}

// fuzzQube is the qube Check judges a fuzzed rule in: both families, so
// that every rule is published.
var fuzzQube = ir.Qube{
	Name: "work",
	IP:   netip.MustParseAddr("10.137.0.16"),
	IP6:  netip.MustParseAddr("fd09:24ef:4179::a89:10"),
}

// FuzzParseRule checks ParseRule on Admin API lines: an accepted rule is
// valid, FormatRule writes it in a form that parses back to the same rule
// and formats to the same line, and Check finds nothing wrong with it but
// the one limit a single valid rule can reach, a host name of the length
// that crashes the Linux agent.
func FuzzParseRule(f *testing.F) {
	for _, s := range ruleSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseRule(line)
		if err != nil {
			checkMessage(t, line, err.Error())
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("ParseRule(%q) = %+v, which Validate rejects: %v", line, r, err)
		}
		if r.Origin != (ir.Origin{}) {
			t.Fatalf("ParseRule(%q) has origin %+v; want none", line, r.Origin)
		}
		canon := FormatRule(r)
		checkLens(t, r)
		again, err := ParseRule(canon)
		if err != nil {
			t.Fatalf("ParseRule(%q) formats as %q, which does not parse: %v", line, canon, err)
		}
		if again != r {
			t.Fatalf("ParseRule(%q) = %+v, but its line %q parses to %+v", line, r, canon, again)
		}
		if got := FormatRule(again); got != canon {
			t.Fatalf("FormatRule is not stable: %q, then %q", canon, got)
		}
		if got := Canonical(line); got != canon {
			t.Fatalf("Canonical(%q) = %q; want %q", line, got, canon)
		}
		// An option lost on the way would widen the rule.
		if got, want := optionKeys(canon), optionKeys(line); got != want {
			t.Fatalf("ParseRule(%q) formats as %q, with options %s; want %s", line, canon, got, want)
		}

		q := fuzzQube
		q.Rules = []ir.Rule{r}
		var want []string
		if r.Dst.Host != "" {
			for _, ip := range []netip.Addr{q.IP, q.IP6} {
				if len(dnsPath(ip, r.Dst.Host)) == AgentDNSPathCrashLen {
					want = append(want, "crashes the agent")
				}
			}
		}
		errs := Check(q)
		if len(errs) != len(want) {
			t.Fatalf("Check of the rule %q: %d errors %v; want %d", canon, len(errs), errs, len(want))
		}
		for _, e := range errs {
			if msg := e.Error(); !strings.Contains(msg, "crashes the agent") {
				t.Fatalf("Check of the rule %q: unexpected error %q", canon, msg)
			}
		}
	})
}

// FuzzQubesDBLine checks the QubesDB form of a rule that ParseRule accepts
// at time now: dom0 writes it, without expire and comment, for the client's
// family and only until it expires; it parses to the rule without them,
// fits QubesDB, passes the Linux agent's checks, and writing it in the API
// form changes nothing.
func FuzzQubesDBLine(f *testing.F) {
	for _, s := range ruleSeeds {
		f.Add(s, int64(1700000000))
	}
	f.Fuzz(func(t *testing.T, line string, now int64) {
		r, err := ParseRule(line)
		if err != nil {
			return
		}
		db := ir.QubesDBLine(r)
		stored := r
		stored.Expire, stored.Comment = 0, ""
		if got, err := ParseRule(db); err != nil || got != stored {
			t.Fatalf("QubesDB line %q of %q parses to %+v, %v; want %+v", db, line, got, err, stored)
		}
		if FormatRule(stored) != db {
			t.Fatalf("QubesDB line %q differs from the API line %q of the same rule", db, FormatRule(stored))
		}
		if len(db) >= QubesDBValueLimit {
			t.Fatalf("QubesDB line %q is %d bytes, over QubesDB's limit", db, len(db))
		}

		for _, ip := range []netip.Addr{fuzzQube.IP, fuzzQube.IP6} {
			entries := Entries(ip, []ir.Rule{r}, now)
			dir := ir.QubesDBDir(ip)
			want := []Entry{{Op: Remove, Path: dir + "/"}, {Op: Write, Path: dir + "/policy", Value: "drop"}}
			fam := r.Dst.Family()
			expired := 0 < r.Expire && r.Expire <= now
			if (fam == 0 || fam == family(ip)) && !expired {
				want = append(want, Entry{Op: Write, Path: dir + "/0000", Value: db})
			}
			want = append(want, Entry{Op: Write, Path: dir})
			if got, w := fmt.Sprint(entries), fmt.Sprint(want); got != w {
				t.Fatalf("Entries(%s, %q, %d) = %s; want %s", ip, line, now, got, w)
			}
			for _, e := range entries {
				if len(e.Path) >= QubesDBPathLimit {
					t.Fatalf("QubesDB path %q is too long", e.Path)
				}
				if e.Op == Write && strings.HasPrefix(e.Path, dir+"/0") {
					if err := agentPreCheck(e.Value, family(ip)); err != nil {
						t.Fatalf("the Linux agent refuses %q, written for %s: %v", e.Value, ip, err)
					}
				}
			}
		}
	})
}

// optionKeys returns the keys of the options of line, an API line that
// ParseRule accepts, sorted and without an empty comment, with the
// aliases of dsthost written as dsthost.
func optionKeys(line string) string {
	opts, comment, _ := strings.Cut(line, " comment=")
	var keys []string
	for tok := range strings.SplitSeq(opts, " ") {
		key, _, _ := strings.Cut(tok, "=")
		key, _ = optionKey(key)
		keys = append(keys, key)
	}
	if comment != "" {
		keys = append(keys, "comment")
	}
	slices.Sort(keys)
	return strings.Join(keys, " ")
}

// agentPreCheck reports why the Linux agent would refuse the QubesDB rule
// v in the tree of the given family, or crash on it (qubesagent
// firewall.py: dict(elem.split('=')), then prepare_rules' checks).
func agentPreCheck(v string, family int) error {
	if v == "" {
		return errors.New("empty rule string")
	}
	keys := map[string]string{}
	for tok := range strings.SplitSeq(v, " ") {
		parts := strings.Split(tok, "=")
		if len(parts) != 2 {
			return fmt.Errorf("token %q does not split into a key and a value", tok)
		}
		keys[parts[0]] = parts[1]
	}
	for k := range keys {
		switch k {
		case "action", "proto", "dst4", "dst6", "dsthost", "dstports", "specialtarget", "icmptype":
		default:
			return fmt.Errorf("unsupported option %q", k)
		}
	}
	if _, ok := keys["dst4"]; ok && family == 6 {
		return errors.New("dst4 in the IPv6 tree")
	}
	if _, ok := keys["dst6"]; ok && family == 4 {
		return errors.New("dst6 in the IPv4 tree")
	}
	if a := keys["action"]; a != "accept" && a != "drop" {
		return fmt.Errorf("invalid action %q", a)
	}
	return nil
}

// checkMessage fails t if msg, the error of parsing in, shows Go internals
// or does not start lowercase.
func checkMessage(t *testing.T, in, msg string) {
	t.Helper()
	for _, bad := range []string{"strconv.", "ParseAddr(", "netip.", "invalid syntax", "value out of range"} {
		if strings.Contains(msg, bad) {
			t.Fatalf("ParseRule(%q): error %q shows Go internals (%q)", in, msg, bad)
		}
	}
	if msg == "" || 'A' <= msg[0] && msg[0] <= 'Z' && !strings.HasPrefix(msg, "IPv") && !strings.HasPrefix(msg, "ICMP") {
		t.Fatalf("ParseRule(%q): error %q does not start lowercase", in, msg)
	}
}
