package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

const diffInventory = `{"qubes": {
	"work": {"ip": "10.137.0.11", "netvm": "sys-firewall"},
	"sys-firewall": {"ip": "10.137.0.6", "netvm": "sys-net", "provides_network": true},
	"sys-net": {"ip": "10.137.0.5", "provides_network": true}
}}`

// writePolicy writes a policy directory with the given policy.cue.
func writePolicy(t *testing.T, policy string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range map[string]string{"policy.cue": policy, "inventory.json": diffInventory} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestDiffExitCode checks diff's exit codes: 0 for no change in
// reachability, even where every rule line changes, 2 for changes, 1 for
// errors.
func TestDiffExitCode(t *testing.T) {
	web := writePolicy(t, "package policy\nqubes: work: allow: web: {to: \"any\", tcp: [80, 443]}\n")
	split := writePolicy(t, "package policy\nqubes: work: {\n\tallow: https: {to: [\"0.0.0.0/1\", \"128.0.0.0/1\"], tcp: [443]}\n\tallow: http: {to: \"any\", tcp: [80]}\n}\n")
	https := writePolicy(t, "package policy\nqubes: work: allow: web: {to: \"any\", tcp: [443]}\n")
	broken := writePolicy(t, "package policy\nqubes: work: allow: web: {to: \"any\", tcp: \"all\"}\n")
	for _, tt := range []struct {
		name       string
		base, head string
		want       int
	}{
		{"same", web, web, exitOK},
		{"rewritten", web, split, exitOK},
		{"narrowed", web, https, exitChanges},
		{"widened", https, web, exitChanges},
		{"broken head", web, broken, exitError},
		{"no such base", filepath.Join(web, "nowhere"), web, exitError},
	} {
		var stdout, stderr bytes.Buffer
		if got := run([]string{"diff", tt.base, tt.head}, &stdout, &stderr); got != tt.want {
			t.Errorf("%s: exit code %d; want %d\nstdout:\n%s\nstderr:\n%s", tt.name, got, tt.want, &stdout, &stderr)
		}
	}
}
