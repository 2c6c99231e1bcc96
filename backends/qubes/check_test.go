package qubes

import (
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// policyFile stands in for a policy of 100 lines of 10 bytes each.
var policyFile = func() *token.File {
	content := []byte(strings.Repeat("123456789\n", 100))
	f := token.NewFile("policy.cue", -1, len(content))
	f.SetLinesForContent(content)
	return f
}()

// line returns the position of column 3 of line n of policyFile.
func line(n int) token.Pos { return policyFile.Pos((n-1)*10+2, token.NoRelPos) }

func allow(name string, n int) ir.Origin { return ir.Origin{Kind: ir.Allow, Name: name, Pos: line(n)} }
func deny(name string, n int) ir.Origin  { return ir.Origin{Kind: ir.Deny, Name: name, Pos: line(n)} }

// drops returns n rules "action=drop" without an origin.
func drops(n int) []ir.Rule {
	rules := make([]ir.Rule, n)
	for i := range rules {
		rules[i] = ir.Rule{Action: ir.Drop}
	}
	return rules
}

func TestCheck(t *testing.T) {
	// The longest header, "admin.vm.firewall.Set+ <31 characters> name
	// work\x00", is 65 bytes, so the payload may take 65471; "action=accept
	// comment=" and the newline add 23 to each comment.
	padded := func(o ir.Origin, size int) ir.Rule {
		return ir.Rule{Action: ir.Accept, Comment: strings.Repeat("x", size), Origin: o}
	}
	h48 := strings.Repeat("a", 40) + ".example" // /dns/10.137.0.3/ + h48 is 64 bytes
	h37 := strings.Repeat("b", 29) + ".example" // /dns/fd09:24ef:4179::a89:3/ + h37 is 64 bytes
	tests := []struct {
		name   string
		q      ir.Qube
		caller string
		want   []string
	}{
		{"fine", ir.Qube{Name: "work", IP: ip4, IP6: ip6, Pos: line(1), Rules: []ir.Rule{
			{Action: ir.Accept, Match: ir.Match{DNS: true}, Origin: allow("dns", 2)},
			{Action: ir.Accept, Match: ir.Match{Dst: host("github.com")}, Origin: allow("git", 3)},
			{Action: ir.Drop},
		}}, "", nil},

		// 9,999 rules fit the count but not the request: 65 + 12*5455 is
		// 65525 bytes, one more line does not fit.
		{"rules 9999", ir.Qube{Name: "work", Pos: line(1), Rules: drops(9999)}, "", []string{
			`policy.cue:1:3: qubes.work: the admin.vm.firewall.Set request for qube "work" is 120053 bytes sent from a qube with a 31-character name, over qubesd's limit of 65536; this is the first rule that does not fit (rule 5456 of the list)`,
		}},
		{"rules 10000", ir.Qube{Name: "work", Pos: line(1), Rules: drops(10000)}, "", []string{
			`policy.cue:1:3: qubes.work: qube "work" has 10000 rules; at most 9999 are allowed, as QubesDB rule keys have four digits`,
			`policy.cue:1:3: qubes.work: the admin.vm.firewall.Set request for qube "work" is 120065 bytes sent from a qube with a 31-character name, over qubesd's limit of 65536; this is the first rule that does not fit (rule 5456 of the list)`,
		}},

		// The request limit is inclusive.
		{"request 65536", ir.Qube{Name: "work", Pos: line(1), Rules: []ir.Rule{
			padded(allow("a", 2), 40000), padded(allow("b", 3), 25425),
		}}, "", nil},
		{"request 65537", ir.Qube{Name: "work", Pos: line(1), Rules: []ir.Rule{
			padded(allow("a", 2), 40000), padded(deny("b", 3), 25426), padded(allow("c", 4), 1),
		}}, "", []string{
			`policy.cue:3:3: qubes.work.deny.b: the admin.vm.firewall.Set request for qube "work" is 65561 bytes sent from a qube with a 31-character name, over qubesd's limit of 65536; this is the first rule that does not fit (rule 2 of the list)`,
		}},

		// From dom0 the header is 27 bytes shorter: "dom0" is the caller
		// through the qubesd socket, not a 31-character name.
		{"request 65537 from dom0", ir.Qube{Name: "work", Pos: line(1), Rules: []ir.Rule{
			padded(allow("a", 2), 40000), padded(deny("b", 3), 25426), padded(allow("c", 4), 1),
		}}, "dom0", nil},
		{"request 65537 exactly from dom0", ir.Qube{Name: "work", Pos: line(1), Rules: []ir.Rule{
			padded(allow("a", 2), 40000), padded(deny("b", 3), 25453),
		}}, "dom0", []string{
			`policy.cue:3:3: qubes.work.deny.b: the admin.vm.firewall.Set request for qube "work" is 65537 bytes sent from dom0, over qubesd's limit of 65536; this is the first rule that does not fit (rule 2 of the list)`,
		}},
		{"request from a management qube", ir.Qube{Name: "work", Pos: line(1), Rules: []ir.Rule{
			padded(allow("a", 2), 40000), padded(deny("b", 3), 25453),
		}}, "mgmt", []string{
			`policy.cue:3:3: qubes.work.deny.b: the admin.vm.firewall.Set request for qube "work" is 65537 bytes sent from mgmt, over qubesd's limit of 65536; this is the first rule that does not fit (rule 2 of the list)`,
		}},

		// The agent's /dns/<ip>/<host> key crashes it at exactly 64 bytes,
		// for either address; 63 and 65 bytes are fine.
		{"dns key", ir.Qube{Name: "work", IP: ip4, IP6: ip6, Pos: line(1), Rules: []ir.Rule{
			{Action: ir.Accept, Match: ir.Match{Dst: host(h48)}, Origin: allow("four", 2)},
			{Action: ir.Accept, Match: ir.Match{Dst: host("a" + h48)}, Origin: allow("longer", 3)},
			{Action: ir.Accept, Match: ir.Match{Dst: host(h48[1:])}, Origin: allow("shorter", 4)},
			{Action: ir.Accept, Match: ir.Match{Dst: host(h37), Proto: ir.TCP}},
		}}, "", []string{
			`policy.cue:2:3: qubes.work.allow.four: host name "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example" makes the Linux agent's QubesDB key "/dns/10.137.0.3/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example" exactly 64 bytes long, which crashes the agent's qubes-firewall service; use the host's IP addresses instead`,
			`policy.cue:1:3: qubes.work: host name "bbbbbbbbbbbbbbbbbbbbbbbbbbbbb.example" makes the Linux agent's QubesDB key "/dns/fd09:24ef:4179::a89:3/bbbbbbbbbbbbbbbbbbbbbbbbbbbbb.example" exactly 64 bytes long, which crashes the agent's qubes-firewall service; use the host's IP addresses instead`,
		}},
		{"dns key without ipv6", ir.Qube{Name: "work", IP: ip4, Pos: line(1), Rules: []ir.Rule{
			{Action: ir.Accept, Match: ir.Match{Dst: host(h37)}, Origin: allow("six", 2)},
		}}, "", nil},
	}
	for _, tt := range tests {
		if got := errorLines(CheckFrom(tt.q, tt.caller)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: CheckFrom:\n%s\nwant:\n%s", tt.name, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
		}
	}
}

// TestCheckQubesDB lowers the QubesDB limits, which no valid rule reaches:
// keys are at most 16+39+1+5 bytes and rule strings a few hundred.
func TestCheckQubesDB(t *testing.T) {
	l := qubesLimits
	l.qdbPath = len("/qubes-firewall/10.137.0.3/0000") + 1
	l.qdbValue = len("action=accept dsthost=github.com")
	q := ir.Qube{Name: "work", IP: ip4, IP6: ip6, Pos: line(1), Rules: []ir.Rule{
		{Action: ir.Accept, Match: ir.Match{Dst: pfx("10.0.0.0/8")}, Origin: allow("lan", 2)},
		{Action: ir.Accept, Match: ir.Match{Dst: pfx("fd00::/8")}, Origin: allow("lan6", 3)},
		{Action: ir.Accept, Match: ir.Match{Dst: host("github.com")}, Origin: allow("git", 4)},
		{Action: ir.Drop},
	}}
	want := []string{
		`policy.cue:3:3: qubes.work.allow.lan6: QubesDB key "/qubes-firewall/fd09:24ef:4179::a89:3/0001" is 42 bytes; QubesDB allows at most 31`,
		`policy.cue:4:3: qubes.work.allow.git: QubesDB rule "action=accept dsthost=github.com" is 32 bytes; QubesDB allows at most 31`,
	}
	if got := errorLines(check(q, "", l)); !slices.Equal(got, want) {
		t.Errorf("check:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// At the real limits the same qube is fine.
	if got := errorLines(Check(q)); got != nil {
		t.Errorf("Check:\n%s\nwant no errors", strings.Join(got, "\n"))
	}
}

func TestCheckRuleCount(t *testing.T) {
	l := qubesLimits
	l.rules = 2
	q := ir.Qube{Name: "work", Pos: line(7), Rules: drops(3)}
	want := []string{`policy.cue:7:3: qubes.work: qube "work" has 3 rules; at most 2 are allowed, as QubesDB rule keys have four digits`}
	if got := errorLines(check(q, "", l)); !slices.Equal(got, want) {
		t.Errorf("check:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	q.Rules = drops(2)
	if got := errorLines(check(q, "", l)); got != nil {
		t.Errorf("check of 2 rules:\n%s\nwant no errors", strings.Join(got, "\n"))
	}
}

func errorLines(errs []errors.Error) []string {
	var lines []string
	for _, err := range errs {
		lines = append(lines, err.Error())
	}
	return lines
}
