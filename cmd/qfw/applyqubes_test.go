package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/backends/qubes/adminapi"
	"github.com/qfw-dev/qfw/backends/qubes/adminapi/adminapitest"
	"github.com/qfw-dev/qfw/deploy"
)

// TestApplyQubes applies rule lists through an in-process qubesd: nothing
// without "yes", a saved plan refused for a qube changed since, a list
// dom0 rejects left as it was, the lock, and a plan with nothing to do
// after a full apply.
func TestApplyQubes(t *testing.T) {
	qs := map[string]adminapitest.Qube{
		"sys-firewall": {IP: "10.137.0.6", Netvm: "sys-net", ProvidesNetwork: true},
		"sys-net":      {IP: "10.137.0.5", ProvidesNetwork: true},
		"work":         {IP: "10.137.0.11", Netvm: "sys-firewall", Firewall: []string{"action=accept"}},
		"dev":          {IP: "10.137.0.12", Netvm: "sys-firewall", Firewall: []string{"action=accept"}},
	}
	srv := adminapitest.New(t, qs)
	client := &adminapi.Client{Transport: adminapi.Socket{Path: srv.Path}}
	ctx := context.Background()
	dir := t.TempDir()
	writeTestFiles(t, dir, map[string]string{
		"policy.cue":     workDevPolicy,
		"inventory.json": inventoryOf(qs),
	})
	lock := filepath.Join(dir, "apply.lock")
	data := filepath.Join(dir, "data")
	apply := func(stdin string, args ...string) (code int, stdout, stderr string) {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append([]string{"apply", "--target", "qubes", "--socket", srv.Path, "--lock", lock, "--data-dir", data}, args...)
		code = runIn(args, strings.NewReader(stdin), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	sets := func() int {
		n := 0
		for _, r := range srv.Requests() {
			if r.Method == "admin.vm.firewall.Set" {
				n++
			}
		}
		return n
	}
	work := []string{"action=accept proto=tcp dstports=443-443 comment=web"}
	dev := []string{"action=accept dst4=192.0.2.0/24 proto=tcp dstports=22-22 comment=git"}

	// Anything but "yes" changes nothing.
	code, stdout, stderr := apply("y\n", dir)
	if code != exitError || !strings.Contains(stderr, "apply cancelled; nothing changed") || sets() != 0 {
		t.Fatalf("apply answered y: exit %d, stderr %q, %d Set calls; want exit 1, cancelled, none", code, stderr, sets())
	}
	if !strings.Contains(stdout, "Plan: 2 qubes to change") || !strings.HasSuffix(stdout, "Only 'yes' is accepted: ") {
		t.Errorf("apply did not show the plan and ask:\n%s", stdout)
	}

	// A saved plan; then dev is edited by hand before it is applied.
	planFile := filepath.Join(dir, "plan.json")
	if code := run([]string{"plan", dir, "--socket", srv.Path, "--data-dir", data, "--out", planFile}, new(bytes.Buffer), new(bytes.Buffer)); code != exitOK {
		t.Fatalf("qfw plan --out: exit %d", code)
	}
	edited := []string{"action=accept dst4=198.51.100.0/24", "action=drop"}
	if err := client.FirewallSet(ctx, "dev", edited); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = apply("", "--plan", planFile, "--auto-approve")
	if code != exitError || !strings.Contains(stderr, "dev: its rules changed since the plan was made; plan again") {
		t.Errorf("apply of a stale plan: exit %d, stderr %q; want dev refused", code, stderr)
	}
	if !strings.Contains(stdout, "dev   stale plan, unchanged\nwork  applied (+1 -1)\n") {
		t.Errorf("apply of a stale plan: table:\n%s", stdout)
	}
	if got := srv.Firewall("dev"); !slices.Equal(got, edited) {
		t.Errorf("after a stale plan dev holds %q; want its hand-edited %q", got, edited)
	}
	if got := srv.Firewall("work"); !slices.Equal(got, work) {
		t.Errorf("after the plan work holds %q; want %q", got, work)
	}

	// A list dom0 refuses leaves the qube's list as it was.
	var p deploy.Plan
	b, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	cur, _ := client.FirewallGet(ctx, "dev")
	for i := range p.Qubes {
		if p.Qubes[i].Name == "dev" {
			p.Qubes[i].BaseHash = qubes.ListHash(cur)
			p.Qubes[i].Rules = []string{"action=accept dstports=22-22"} // no proto: dom0 refuses it
		}
	}
	b, _ = json.Marshal(p)
	bad := filepath.Join(dir, "bad-plan.json")
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	n := sets()
	code, _, stderr = apply("", "--plan", bad, "--auto-approve")
	if code != exitError || !strings.Contains(stderr, "qubes[0].rules[0]: dstports valid only for 'tcp' and 'udp' protocols") || sets() != n {
		t.Errorf("apply of a plan with a list dom0 refuses: exit %d, stderr %q, %d Set calls", code, stderr, sets()-n)
	}
	if got := srv.Firewall("dev"); !slices.Equal(got, edited) {
		t.Errorf("after a refused plan dev holds %q; want %q, as before", got, edited)
	}

	// Another apply holds the lock.
	unlock, err := deploy.LockApply(lock)
	if err != nil {
		t.Fatal(err)
	}
	n = sets()
	code, _, stderr = apply("", dir, "--auto-approve")
	unlock()
	if code != exitError || !strings.Contains(stderr, "another qfw apply holds the lock") || sets() != n {
		t.Errorf("apply under another's lock: exit %d, stderr %q, %d new Set calls", code, stderr, sets()-n)
	}

	// The full apply, then nothing left to do.
	if code, stdout, stderr = apply("yes\n", dir); code != exitOK {
		t.Fatalf("apply: exit %d: %s", code, stderr)
	}
	if !strings.HasSuffix(stdout, "QUBE  RESULT\ndev   applied (+1 -2)\n") {
		t.Errorf("apply: the table does not end the output:\n%s", stdout)
	}
	if got := srv.Firewall("dev"); !slices.Equal(got, dev) {
		t.Errorf("after apply dev holds %q; want %q", got, dev)
	}
	if code, stdout, _ = apply("", dir); code != exitOK || !strings.Contains(stdout, "No changes: 2 qubes match the policy.") {
		t.Errorf("apply with nothing to do: exit %d:\n%s", code, stdout)
	}

	// A hand edit since qfw set the list: a warning, or with
	// --refuse-drift the qube is left as it is.
	hand := []string{"action=accept"}
	if err := client.FirewallSet(ctx, "work", hand); err != nil {
		t.Fatal(err)
	}
	var planOut bytes.Buffer
	if code := run([]string{"plan", dir, "--socket", srv.Path, "--data-dir", data}, &planOut, new(bytes.Buffer)); code != exitOK || !strings.Contains(planOut.String(), "work: (edited outside qfw since qfw set it at ") {
		t.Errorf("plan after a hand edit: exit %d; want work marked:\n%s", code, planOut.String())
	}
	code, _, stderr = apply("", dir, "--auto-approve", "--refuse-drift")
	if code != exitError || !strings.Contains(stderr, "work: its rules were edited outside qfw since qfw set them at ") || !slices.Equal(srv.Firewall("work"), hand) {
		t.Errorf("apply --refuse-drift over a hand edit: exit %d, stderr %q, work holds %q", code, stderr, srv.Firewall("work"))
	}
	code, _, stderr = apply("", dir, "--auto-approve")
	if code != exitOK || !strings.Contains(stderr, "qfw: warning: work: its rules were edited outside qfw") || !slices.Equal(srv.Firewall("work"), work) {
		t.Errorf("apply over a hand edit: exit %d, stderr %q, work holds %q", code, stderr, srv.Firewall("work"))
	}
}

// TestApplyQubesConfirmTimeout applies with --confirm-timeout: unconfirmed,
// every changed qube gets back exactly its previous list; confirmed, the
// changes stay.
func TestApplyQubesConfirmTimeout(t *testing.T) {
	before := []string{"action=accept dst4=198.51.100.0/24 comment=old", "action=drop"}
	qs := map[string]adminapitest.Qube{
		"sys-firewall": {IP: "10.137.0.6", Netvm: "sys-net", ProvidesNetwork: true},
		"sys-net":      {IP: "10.137.0.5", ProvidesNetwork: true},
		"work":         {IP: "10.137.0.11", Netvm: "sys-firewall", Firewall: before},
	}
	srv := adminapitest.New(t, qs)
	dir := t.TempDir()
	writeTestFiles(t, dir, map[string]string{
		"policy.cue":     "package policy\n\nqubes: work: allow: web: {to: \"any\", tcp: [443]}\n",
		"inventory.json": inventoryOf(qs),
	})
	data := filepath.Join(dir, "data")
	args := []string{"apply", dir, "--target", "qubes", "--socket", srv.Path, "--lock", filepath.Join(dir, "lock"), "--data-dir", data, "--auto-approve", "--confirm-timeout", "300ms"}
	after := []string{"action=accept proto=tcp dstports=443-443 comment=web"}

	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != exitError || !strings.Contains(stderr.String(), "not confirmed within 300ms; 1 qube reverted") {
		t.Fatalf("unconfirmed apply: exit %d, stderr %q", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "work  reverted\n") {
		t.Errorf("unconfirmed apply: no revert in the table:\n%s", stdout.String())
	}
	if got := srv.Firewall("work"); !slices.Equal(got, before) {
		t.Errorf("after an unconfirmed apply work holds %q; want exactly its previous %q", got, before)
	}

	// Confirmed while it waits: the changes stay. The timeout is long, as
	// confirm ends the wait.
	args[len(args)-1] = "1m"
	done := make(chan int)
	stdout.Reset()
	stderr.Reset()
	go func() { done <- run(args, &stdout, &stderr) }()
	for waiting := true; waiting; {
		select {
		case code := <-done:
			t.Fatalf("apply ended with exit %d before it waited for confirmation: %s", code, stderr.String())
		case <-time.After(10 * time.Millisecond):
			_, err := os.Stat(filepath.Join(data, "pending-confirm"))
			waiting = err != nil
		}
	}
	var confirmOut bytes.Buffer
	if code := run([]string{"confirm", "--data-dir", data}, &confirmOut, new(bytes.Buffer)); code != exitOK {
		t.Fatalf("qfw confirm: exit %d", code)
	}
	if code := <-done; code != exitOK {
		t.Fatalf("confirmed apply: exit %d, stderr %q", code, stderr.String())
	}
	if got := srv.Firewall("work"); !slices.Equal(got, after) {
		t.Errorf("after a confirmed apply work holds %q; want %q", got, after)
	}
	if code := run([]string{"confirm", "--data-dir", data}, new(bytes.Buffer), &stderr); code != exitError || !strings.Contains(stderr.String(), "no apply is waiting for confirmation") {
		t.Errorf("qfw confirm with nothing waiting: exit %d, stderr %q", code, stderr.String())
	}
}

// TestApplyQubesDiesMidway loses qubesd after the first Set: that qube has
// its new list, the others keep their previous ones, and every failure is
// reported.
func TestApplyQubesDiesMidway(t *testing.T) {
	old := []string{"action=accept dst4=198.51.100.0/24 comment=old", "action=drop"}
	qs := map[string]adminapitest.Qube{
		"sys-firewall": {IP: "10.137.0.6", Netvm: "sys-net", ProvidesNetwork: true},
		"sys-net":      {IP: "10.137.0.5", ProvidesNetwork: true},
		"a":            {IP: "10.137.0.11", Netvm: "sys-firewall", Firewall: old},
		"b":            {IP: "10.137.0.12", Netvm: "sys-firewall", Firewall: old},
		"c":            {IP: "10.137.0.13", Netvm: "sys-firewall", Firewall: old},
	}
	srv := adminapitest.New(t, qs)
	dir := t.TempDir()
	writeTestFiles(t, dir, map[string]string{
		"policy.cue":     "package policy\n\nqubes: [\"a\" | \"b\" | \"c\"]: allow: web: {to: \"any\", tcp: [443]}\nqubes: {a: {}, b: {}, c: {}}\n",
		"inventory.json": inventoryOf(qs),
	})
	srv.DieAfterSets(1)
	var stdout, stderr bytes.Buffer
	code := run([]string{"apply", dir, "--target", "qubes", "--socket", srv.Path, "--lock", filepath.Join(dir, "lock"), "--data-dir", filepath.Join(dir, "data"), "--auto-approve"}, &stdout, &stderr)
	if code != exitError {
		t.Fatalf("apply with qubesd gone: exit %d; want 1", code)
	}
	if !strings.Contains(stdout.String(), "a     applied (+1 -2)\nb     failed, unchanged\nc     failed, unchanged\n") {
		t.Errorf("apply with qubesd gone: table:\n%s", stdout.String())
	}
	if got := stderr.String(); !strings.Contains(got, "qfw: 2 errors:\n  b: ") || !strings.Contains(got, "\n  c: ") {
		t.Errorf("apply with qubesd gone: stderr %q; want both failures", got)
	}
	if got := srv.Firewall("a"); !slices.Equal(got, []string{"action=accept proto=tcp dstports=443-443 comment=web"}) {
		t.Errorf("a holds %q; want its new list", got)
	}
	for _, q := range []string{"b", "c"} {
		if got := srv.Firewall(q); !slices.Equal(got, old) {
			t.Errorf("%s holds %q; want its previous list %q", q, got, old)
		}
	}
}
