package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/qfw-dev/qfw/backends/qubes/adminapi/adminapitest"
)

// TestInventoryCommand reads an inventory from an in-process qubesd, and
// compiles a policy against it.
func TestInventoryCommand(t *testing.T) {
	srv := adminapitest.New(t, map[string]adminapitest.Qube{
		"sys-firewall": {IP: "10.137.0.6", Netvm: "sys-net", Label: "green", ProvidesNetwork: true},
		"sys-net":      {IP: "10.137.0.5", Label: "red", ProvidesNetwork: true},
		"work":         {IP: "10.137.0.11", Netvm: "sys-firewall", Label: "blue", Tags: []string{"corp"}},
	})
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.json")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"inventory", "--socket", srv.Path, "-o", inv}, &stdout, &stderr); code != 0 {
		t.Fatalf("qfw inventory: exit %d: %s", code, stderr.String())
	}
	const policy = `package policy

import "list"

for name, q in inventory.qubes if list.Contains(q.tags, "corp") {
	qubes: (name): allow: web: {to: "any", tcp: [443]}
}
`
	if err := os.WriteFile(filepath.Join(dir, "policy.cue"), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"compile", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("qfw compile: exit %d: %s", code, stderr.String())
	}
	const want = "# work (netvm sys-firewall)\naction=accept proto=tcp dstports=443-443 comment=web\n"
	if stdout.String() != want {
		t.Errorf("qfw compile with the read inventory:\n%s\nwant:\n%s", stdout.String(), want)
	}
}
