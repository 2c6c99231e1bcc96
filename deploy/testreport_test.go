package deploy

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestTestReport checks the forms of qfw test's output: a line for each
// failing test and a summary, as text or annotations, and every test as
// JSON.
func TestTestReport(t *testing.T) {
	dir := t.TempDir()
	writeTestFiles(t, dir, map[string]string{
		"policy.cue": `package policy

qubes: work: {
	deny: bad: {to: "tracker.example", priority: 10}
	allow: web: {to: "any", tcp: [443]}
}
tests: [
	{from: "work", to: "192.0.2.1", port: 22, expect: "drop"},
	{from: "work", to: "192.0.2.1", port: 22, expect: "accept"},
	{from: "work", to: "192.0.2.1", port: 443, expect: "accept"},
]
`,
		"inventory.json": testInventory,
	})
	now := time.Unix(1_800_000_000, 0)
	b, _, errs := Build(BuildOptions{Args: []string{dir}, Now: now})
	if errs != nil {
		t.Fatalf("build: %v", errs)
	}
	r := b.RunTests()
	for _, c := range []struct {
		name  string
		write func(*bytes.Buffer) error
		want  string
	}{
		{"text", func(w *bytes.Buffer) error { r.WriteText(w); return nil }, `policy.cue:9:2: tests.1: work to 192.0.2.1: expected accept, but in sys-firewall (qubes) tcp 22 to 192.0.2.1 gets drop: no rule matches, so the list's final drop applies
policy.cue:10:2: tests.2: work to 192.0.2.1: expected accept, and in sys-firewall (qubes) tcp 443 to 192.0.2.1 gets accept by allow.web (policy.cue:5:9); but deny.bad (policy.cue:4:8) may match first, depending on addresses qfw does not know (of a name, or of the upstream DNS servers); but if tracker.example has no IPv4 address, deny.bad (policy.cue:4:8) makes sys-firewall refuse the whole list; where names decide, pin them in resolve
3 tests, 1 passed, 2 failed
`},
		{"github", func(w *bytes.Buffer) error { r.WriteGitHub(w); return nil }, `::error file=policy.cue,line=9,col=2::tests.1: work to 192.0.2.1: expected accept, but in sys-firewall (qubes) tcp 22 to 192.0.2.1 gets drop: no rule matches, so the list's final drop applies
::error file=policy.cue,line=10,col=2::tests.2: work to 192.0.2.1: expected accept, and in sys-firewall (qubes) tcp 443 to 192.0.2.1 gets accept by allow.web (policy.cue:5:9); but deny.bad (policy.cue:4:8) may match first, depending on addresses qfw does not know (of a name, or of the upstream DNS servers); but if tracker.example has no IPv4 address, deny.bad (policy.cue:4:8) makes sys-firewall refuse the whole list; where names decide, pin them in resolve
3 tests, 1 passed, 2 failed
`},
		{"json", func(w *bytes.Buffer) error { return r.WriteJSON(w) }, `{
  "format_version": "1.0",
  "summary": {
    "failed": 2,
    "passed": 1,
    "tests": 3
  },
  "tests": [
    {
      "index": 0,
      "position": "policy.cue:8:2",
      "from": "work",
      "to": "192.0.2.1",
      "expect": "drop",
      "passed": true,
      "packets": 1
    },
    {
      "index": 1,
      "position": "policy.cue:9:2",
      "from": "work",
      "to": "192.0.2.1",
      "expect": "accept",
      "passed": false,
      "packets": 1,
      "failure": "work to 192.0.2.1: expected accept, but in sys-firewall (qubes) tcp 22 to 192.0.2.1 gets drop: no rule matches, so the list's final drop applies"
    },
    {
      "index": 2,
      "position": "policy.cue:10:2",
      "from": "work",
      "to": "192.0.2.1",
      "expect": "accept",
      "passed": false,
      "packets": 1,
      "failure": "work to 192.0.2.1: expected accept, and in sys-firewall (qubes) tcp 443 to 192.0.2.1 gets accept by allow.web (policy.cue:5:9); but deny.bad (policy.cue:4:8) may match first, depending on addresses qfw does not know (of a name, or of the upstream DNS servers); but if tracker.example has no IPv4 address, deny.bad (policy.cue:4:8) makes sys-firewall refuse the whole list; where names decide, pin them in resolve",
      "rule": "allow.web",
      "rule_position": "policy.cue:5:9",
      "possible_rule": "deny.bad",
      "possible_position": "policy.cue:4:8"
    }
  ]
}
`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := c.write(&buf); err != nil {
				t.Fatal(err)
			}
			if got := strings.ReplaceAll(buf.String(), dir+"/", ""); got != c.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, c.want)
			}
		})
	}
}
