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

// TestInventoryCommandChecks refuses an inventory from qubesd that an
// inventory file could not hold: qubesd's answers are input too.
func TestInventoryCommandChecks(t *testing.T) {
	srv := adminapitest.New(t, map[string]adminapitest.Qube{
		"sys-firewall": {IP: "10.137.0.6", ProvidesNetwork: true},
		"work":         {IP: "10.137.0.11", Netvm: "sys-firewall"},
		"personal":     {IP: "10.137.0.11", Netvm: "sys-firewall"},
		"loop-a":       {IP: "10.137.0.12", Netvm: "loop-b", ProvidesNetwork: true},
		"loop-b":       {IP: "10.137.0.13", Netvm: "loop-a", ProvidesNetwork: true},
		"vault":        {Netvm: "sys-firewall"},
	})
	out := filepath.Join(t.TempDir(), "inventory.json")
	var stdout, stderr bytes.Buffer
	code := run([]string{"inventory", "--socket", srv.Path, "-o", out}, &stdout, &stderr)
	const want = `qfw: inventory.qubes."loop-a".netvm: netvm loop: loop-a -> loop-b -> loop-a
qfw: inventory.qubes.vault: qube "vault" has a netvm but no address: give it ip, ip6 or both
qfw: inventory.qubes.work.ip: ip 10.137.0.11 is also the address of qube "personal"
`
	if code != 1 || stderr.String() != want {
		t.Errorf("qfw inventory: exit %d, stderr:\n%s\nwant exit 1, stderr:\n%s", code, stderr.String(), want)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("qfw inventory wrote %s despite errors", out)
	}
}
