package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/internal/netnstest"
)

// TestApplyNftables runs qfw apply into a network namespace: the first
// run adds the table, the second finds nothing to change, and --qube
// updates one client only.
func TestApplyNftables(t *testing.T) {
	ns := netnstest.New(t)
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("inventory.json", `{"qubes": {
	"work": {"ip": "10.137.0.11", "netvm": "sys-firewall"},
	"home": {"ip": "10.137.0.12", "netvm": "sys-firewall"},
	"sys-firewall": {"ip": "10.137.0.6", "netvm": "sys-net", "provides_network": true},
	"sys-net": {"ip": "10.137.0.5", "provides_network": true}
}}`)
	write("policy.cue", `package policy
qubes: {
	work: allow: web: {to: "any", tcp: [443]}
	home: allow: all: to: "any"
}
firewalls: "sys-firewall": backend: "nftables"
`)
	apply := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		args = append([]string{"apply", dir, "--target", "nftables", "--firewall", "sys-firewall", "--netns", ns.Name, "--resolve", "policy"}, args...)
		if code := run(args, &stdout, &stderr); code != 0 {
			t.Fatalf("qfw %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
		}
		return stdout.String()
	}
	for _, step := range []struct {
		args []string
		want string
	}{
		{nil, "sys-firewall: table inet qfw applied: added c4-home, c4-work, forward, guard, postrouting, prerouting; 0 chains unchanged\n"},
		{nil, "sys-firewall: table inet qfw applied: no changes: 6 chains as they were\n"},
	} {
		if got := apply(step.args...); got != step.want {
			t.Errorf("qfw apply: %q; want %q", got, step.want)
		}
	}
	write("policy.cue", `package policy
qubes: {
	work: allow: web: {to: "any", tcp: [443, 80]}
	home: allow: all: to: "any"
}
firewalls: "sys-firewall": backend: "nftables"
`)
	if got, want := apply("--qube", "work"), "sys-firewall: table inet qfw applied: changed c4-work; 5 chains unchanged\n"; got != want {
		t.Errorf("qfw apply --qube work: %q; want %q", got, want)
	}
	// The update adds port 80 to the set, which nft lists in the order
	// its elements came.
	want := `table inet qfw {
	set c4-work-0-p {
		type ipv4_addr . inet_proto . inet_service
		flags interval
		elements = { 0.0.0.0/0 . tcp . 443,
			     0.0.0.0/0 . tcp . 80 }
	}
}
`
	if got := ns.Exec(t, nil, "nft", "list", "set", "inet", "qfw", "c4-work-0-p"); got != want {
		t.Errorf("after the update, work's set:\n%s\nwant:\n%s", got, want)
	}
}

// A name pinned without an address in a family the client has makes an
// allow to it match nothing in that family: one warning says so, the
// compiler's, not a second from apply.
func TestApplyNftablesBlockedNameOnce(t *testing.T) {
	ns := netnstest.New(t)
	dir := t.TempDir()
	writeTestFiles(t, dir, map[string]string{
		"inventory.json": `{"qubes": {
	"work": {"ip": "10.137.0.11", "ip6": "fd09:24ef:4179::a89:b", "netvm": "sys-firewall"},
	"sys-firewall": {"ip": "10.137.0.6", "netvm": "sys-net", "provides_network": true},
	"sys-net": {"ip": "10.137.0.5", "provides_network": true}
}}`,
		"policy.cue": `package policy
resolve: "v4only.example": ["192.0.2.1"]
qubes: work: allow: web: {to: "v4only.example", tcp: [443]}
firewalls: "sys-firewall": backend: "nftables"
`,
	})
	var stdout, stderr bytes.Buffer
	if code := run([]string{"apply", dir, "--target", "nftables", "--firewall", "sys-firewall", "--netns", ns.Name, "--resolve", "policy"}, &stdout, &stderr); code != 0 {
		t.Fatalf("apply: exit %d: %s", code, stderr.String())
	}
	if n := strings.Count(stderr.String(), "v4only.example has no IPv6 address"); n != 1 {
		t.Errorf("%d warnings about the IPv6 block; want 1:\n%s", n, stderr.String())
	}
}
