package main

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/backends/qubes/adminapi/adminapitest"
)

// TestPlanLive plans against the lists an in-process qubesd holds, read
// with admin.vm.firewall.Get, and checks that planning changes nothing.
func TestPlanLive(t *testing.T) {
	qs := map[string]adminapitest.Qube{
		"sys-firewall": {IP: "10.137.0.6", Netvm: "sys-net", ProvidesNetwork: true},
		"sys-net":      {IP: "10.137.0.5", ProvidesNetwork: true},
		"work":         {IP: "10.137.0.11", Netvm: "sys-firewall", Firewall: []string{"action=accept"}, Tags: []string{"qfw-managed"}},
		"mail":         {IP: "10.137.0.12", Netvm: "sys-firewall", Firewall: []string{"dstports=993-993 proto=tcp action=accept comment=imap"}},
	}
	srv := adminapitest.New(t, qs)
	dir := t.TempDir()
	files := map[string]string{
		"policy.cue": `package policy

qubes: work: allow: web: {to: "any", tcp: [443]}
qubes: mail: allow: imap: {to: "any", tcp: [993]}
`,
		"inventory.json": inventoryOf(qs),
	}
	writeTestFiles(t, dir, files)
	var stdout, stderr bytes.Buffer
	code := run([]string{"plan", dir, "--socket", srv.Path, "--detailed-exitcode", "--data-dir", t.TempDir()}, &stdout, &stderr)
	if code != exitChanges {
		t.Fatalf("qfw plan: exit %d; want %d: %s", code, exitChanges, stderr.String())
	}
	const want = `work:
  - action=accept
  + action=accept proto=tcp dstports=443-443 comment=web  # allow.web

To tag qfw-managed: mail.

Unchanged: mail.

Plan: 1 qube to change, 1 unchanged; 1 rule to add, 1 to remove; 1 qube to tag qfw-managed.
`
	if stdout.String() != want {
		t.Errorf("qfw plan:\n%s\nwant:\n%s", stdout.String(), want)
	}
	for _, r := range srv.Requests() {
		if !strings.HasSuffix(r.Method, ".Get") && !strings.HasSuffix(r.Method, ".List") {
			t.Errorf("plan made the call %s; it must only read", r.Method)
		}
	}

	// A qube dom0 does not know is an error, with dom0's words.
	stdout.Reset()
	stderr.Reset()
	withGone := maps.Clone(qs)
	withGone["gone"] = adminapitest.Qube{IP: "10.137.0.13", Netvm: "sys-firewall"}
	writeTestFiles(t, dir, map[string]string{"inventory.json": inventoryOf(withGone),
		"gone.cue": "package policy\n\nqubes: gone: allow: web: {to: \"any\", tcp: [443]}\n",
	})
	if code := run([]string{"plan", dir, "--socket", srv.Path, "--data-dir", t.TempDir()}, &stdout, &stderr); code != exitError {
		t.Fatalf("qfw plan with a qube dom0 lacks: exit %d; want %d", code, exitError)
	}
	if got := stderr.String(); !strings.Contains(got, "qfw: read the rules of gone: ") || !strings.Contains(got, "QubesVMNotFoundError") {
		t.Errorf("qfw plan with a qube dom0 lacks: stderr %q; want the qube and dom0's error", got)
	}
	if stdout.Len() != 0 {
		t.Errorf("qfw plan that failed printed a plan:\n%s", stdout.String())
	}
}

// inventoryOf returns an inventory file of qs, the qubes of an in-process
// qubesd: each one's class, addresses, netvm and provides_network, as
// they are given there, and no tags.
func inventoryOf(qs map[string]adminapitest.Qube) string {
	inv := map[string]map[string]any{}
	for name, q := range qs {
		e := map[string]any{}
		for k, v := range map[string]string{"class": q.Class, "ip": q.IP, "ip6": q.IP6, "netvm": q.Netvm} {
			if v != "" {
				e[k] = v
			}
		}
		if q.ProvidesNetwork {
			e["provides_network"] = true
		}
		inv[name] = e
	}
	b, err := json.Marshal(map[string]any{"qubes": inv})
	if err != nil {
		panic(err)
	}
	return string(b)
}

func writeTestFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
