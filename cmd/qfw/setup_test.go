package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/backends/qubes/adminapi"
	"github.com/qfw-dev/qfw/backends/qubes/adminapi/adminapitest"
	"github.com/qfw-dev/qfw/backends/qubes/qrexecpolicy"
)

// mgmtQubes is a machine run from the management qube mgmt: work, which
// the policy manages, old, which left it still tagged, and no unikernel
// firewall qube yet.
var mgmtQubes = map[string]adminapitest.Qube{
	"sys-net":      {IP: "10.137.0.5", ProvidesNetwork: true},
	"sys-firewall": {IP: "10.137.0.6", Netvm: "sys-net", ProvidesNetwork: true},
	"work":         {IP: "10.137.0.11", Netvm: "sys-firewall", Firewall: []string{"action=accept"}},
	"old":          {IP: "10.137.0.13", Netvm: "sys-firewall", Firewall: []string{"action=accept proto=tcp dstports=22-22"}, Tags: []string{"qfw-managed"}},
	"mgmt":         {IP: "10.137.0.20", Netvm: "sys-firewall"},
}

// mgmtPolicy manages work, and provisions the unikernel firewall qube
// mirage-fw.
const mgmtPolicy = `package policy

qubes: work: allow: web: {to: "any", tcp: [443]}

firewalls: "mirage-fw": backend: mirage: {version: "0.9.5", netvm: "sys-net"}
`

// mgmtPolicyDir writes mgmtPolicy and the inventory of mgmtQubes, as qfw
// inventory reads it in dom0, into a directory, and returns it.
func mgmtPolicyDir(t *testing.T) string {
	t.Helper()
	return policyDirFor(t, mgmtQubes, mgmtPolicy)
}

// policyDirFor writes policy and the inventory of qubes into a directory,
// and returns it.
func policyDirFor(t *testing.T, qubes map[string]adminapitest.Qube, policy string) string {
	t.Helper()
	dir := t.TempDir()
	srv := adminapitest.New(t, qubes)
	var inv, stderr bytes.Buffer
	if code := run([]string{"inventory", "--socket", srv.Path}, &inv, &stderr); code != 0 {
		t.Fatalf("inventory in dom0: exit %d: %s", code, stderr.String())
	}
	for name, text := range map[string]string{"policy.cue": policy, "inventory.json": inv.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// mgmtQrexecPolicy returns the policy qfw setup qrexec-policy writes for
// mgmt and the policy in dir.
func mgmtQrexecPolicy(t *testing.T, dir string, flags ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(append([]string{"setup", "qrexec-policy", "--mgmt", "mgmt", dir}, flags...), &stdout, &stderr); code != 0 {
		t.Fatalf("setup qrexec-policy: exit %d: %s", code, stderr.String())
	}
	return stdout.String()
}

// mgmtCommand is one qfw command run from mgmt.
type mgmtCommand struct {
	name string
	args []string
	// before changes the qubes before the command runs, as dom0 would
	// behind qfw's back.
	before func(qubes map[string]adminapitest.Qube)
}

// mgmtCommands make every call qfw makes, each command on the machine the
// one before left: an apply that sets lists, tags qubes and creates and
// configures mirage-fw; one after mirage-fw's label changed; one that
// resets old, is not confirmed, and puts it back; then plan, inventory and
// import. "POLICY" stands for the policy's directory.
var mgmtCommands = []mgmtCommand{
	{name: "apply", args: []string{"apply", "POLICY", "--auto-approve"}},
	{name: "apply after a label change", args: []string{"apply", "POLICY", "--auto-approve"}, before: func(qubes map[string]adminapitest.Qube) {
		q := qubes["mirage-fw"]
		q.Label = "red"
		qubes["mirage-fw"] = q
	}},
	{name: "apply --reset old, not confirmed", args: []string{"apply", "POLICY", "--auto-approve", "--reset", "old", "--confirm-timeout", "1ms"}},
	{name: "plan", args: []string{"plan", "POLICY"}},
	{name: "inventory", args: []string{"inventory"}},
	{name: "import", args: []string{"import", "-o", "$TMP/import"}},
}

// mgmtStep is what a command did: its exit code and output, the state it
// left the qubes in, and what dom0's policy decided on its calls.
type mgmtStep struct {
	code              int
	stdout, stderr    string
	state             string
	after             map[string]adminapitest.Qube
	evaluations       []adminapitest.Evaluation
	refused           []qrexecpolicy.Call
	inventoryFromDom0 string
	// dataDir is the data directory the command ran with.
	dataDir string
}

func (s mgmtStep) same(o mgmtStep) bool {
	return s.code == o.code && s.stdout == o.stdout && s.state == o.state
}

// runMgmtCommand runs c from mgmt, through qrexec, on a machine holding
// qubes whose dom0 enforces the qrexec policy text, with the data
// directory a copy of data (if not empty).
func runMgmtCommand(t *testing.T, dir, text string, qubes map[string]adminapitest.Qube, data string, c mgmtCommand) mgmtStep {
	t.Helper()
	p, err := qrexecpolicy.Parse("30-qfw.policy", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	qubes = maps.Clone(qubes)
	if c.before != nil {
		c.before(qubes)
	}
	srv := adminapitest.New(t, qubes)
	srv.SetPolicy(p)
	tmp := t.TempDir()
	step := mgmtStep{dataDir: filepath.Join(tmp, "data")}
	if _, err := os.Stat(data); data != "" && err == nil {
		if err := os.CopyFS(step.dataDir, os.DirFS(data)); err != nil {
			t.Fatal(err)
		}
	}
	var dom0Inv bytes.Buffer
	if c.name == "inventory" {
		// What dom0 sees, to compare.
		run([]string{"inventory", "--socket", srv.Path}, &dom0Inv, &dom0Inv)
		step.inventoryFromDom0 = dom0Inv.String()
	}
	args := slices.Clone(c.args)
	for i, a := range args {
		args[i] = strings.ReplaceAll(strings.ReplaceAll(a, "POLICY", dir), "$TMP", tmp)
	}
	args = append(args, "--qrexec", "--qrexec-client", srv.QrexecClient(t, "mgmt"))
	if args[0] != "inventory" && args[0] != "import" {
		args = append(args, "--data-dir", filepath.Join(tmp, "data"))
	}
	if args[0] == "apply" {
		args = append(args, "--lock", filepath.Join(tmp, "lock"))
	}
	var stdout, stderr bytes.Buffer
	step.code = run(args, &stdout, &stderr)
	step.stdout = strings.ReplaceAll(stdout.String(), tmp, "$TMP")
	step.stderr = strings.ReplaceAll(stderr.String(), tmp, "$TMP")
	step.after = srv.Qubes()
	step.state = mgmtState(srv)
	step.evaluations, step.refused = srv.Evaluations(), srv.Refused()
	return step
}

// mgmtRun is mgmtCommands run one after the other, with what each started
// from.
type mgmtRun struct {
	steps []mgmtStep
	// qubes and data are the machine and the data directory each command
	// started from.
	qubes []map[string]adminapitest.Qube
	data  []string
}

func runMgmt(t *testing.T, dir, text string) *mgmtRun {
	t.Helper()
	r := &mgmtRun{}
	qubes, data := mgmtQubes, ""
	for _, c := range mgmtCommands {
		r.qubes, r.data = append(r.qubes, qubes), append(r.data, data)
		step := runMgmtCommand(t, dir, text, qubes, data, c)
		r.steps = append(r.steps, step)
		qubes = step.after
		if c.args[0] == "apply" {
			// The record apply keeps, for the next one.
			data = step.dataDir
		}
	}
	return r
}

// mgmtState returns what the server holds of each qube that qfw may
// change: its list, its tags, and mirage-fw's settings.
func mgmtState(srv *adminapitest.Server) string {
	var b strings.Builder
	for _, name := range []string{"mirage-fw", "old", "work"} {
		q, ok := srv.Qube(name)
		if !ok {
			fmt.Fprintf(&b, "%s: none\n", name)
			continue
		}
		fmt.Fprintf(&b, "%s: %s label=%s netvm=%s tags=%q rules=%q\n", name, q.Class, q.Label, q.Netvm, q.Tags, q.Firewall)
		for _, k := range slices.Sorted(maps.Keys(q.Properties)) {
			fmt.Fprintf(&b, "  property %s=%q\n", k, q.Properties[k])
		}
		for _, k := range slices.Sorted(maps.Keys(q.Features)) {
			fmt.Fprintf(&b, "  feature %s=%q\n", k, q.Features[k])
		}
	}
	return b.String()
}

// From the management qube, with the policy setup writes in force, every
// command does its work as in dom0: the list set and tagged, the firewall
// qube created and configured, and configured again, old reset and put
// back, the same inventory as dom0's; dom0 refuses none of the calls.
func TestSetupQrexecPolicy(t *testing.T) {
	dir := mgmtPolicyDir(t)
	r := runMgmt(t, dir, mgmtQrexecPolicy(t, dir))
	want := []struct {
		code int
		says []string
	}{
		{0, []string{"work       applied (+1 -1)\n", "mirage-fw  provisioned (13 steps)\n"}},
		{0, []string{"+ set property label from \"red\" to \"green\"\n", "mirage-fw  provisioned (1 step)\n"}},
		{1, []string{"old   reset, released\n", "old   reverted\n"}},
		{0, []string{"No changes: 1 qube matches the policy; 1 qube left the policy, its list kept.\n"}},
		{0, []string{`"mirage-fw": {`}},
		{0, []string{"Imported 6 qubes (2 rules)"}},
	}
	for i, s := range r.steps {
		name := mgmtCommands[i].name
		if s.code != want[i].code {
			t.Errorf("%s: exit %d, want %d\n%s%s", name, s.code, want[i].code, s.stdout, s.stderr)
		}
		for _, w := range want[i].says {
			if !strings.Contains(s.stdout, w) {
				t.Errorf("%s does not say %q:\n%s", name, w, s.stdout)
			}
		}
		if s.refused != nil {
			t.Errorf("%s: dom0 refused %v", name, s.refused)
		}
		if s.inventoryFromDom0 != "" && s.stdout != s.inventoryFromDom0 {
			t.Errorf("inventory from mgmt:\n%s\nfrom dom0:\n%s", s.stdout, s.inventoryFromDom0)
		}
	}
	wantState := `mirage-fw: StandaloneVM label=green netvm=sys-net tags=["created-by-mgmt"] rules=[]
  property audiovm=""
  property kernel="mirage-firewall"
  property kernelopts=""
  property maxmem="32"
  property memory="32"
  property vcpus="1"
  property virt_mode="pvh"
  feature no-default-kernelopts="1"
  feature qubes-firewall="1"
  feature skip-update="1"
old: AppVM label= netvm=sys-firewall tags=["qfw-managed"] rules=["action=accept proto=tcp dstports=22-22"]
work: AppVM label= netvm=sys-firewall tags=["qfw-managed"] rules=["action=accept proto=tcp dstports=443-443 comment=web"]
`
	if got := r.steps[len(r.steps)-1].state; got != wantState {
		t.Errorf("the qubes after:\n%s\nwant:\n%s", got, wantState)
	}
}

// Every rule of the policy is needed: each command that a rule let a call
// through for does otherwise without it, run on the machine it ran on.
func TestSetupQrexecPolicyEveryRule(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a command for each of the policy's rules")
	}
	dir := mgmtPolicyDir(t)
	text := mgmtQrexecPolicy(t, dir)
	ref := runMgmt(t, dir, text)
	p, err := qrexecpolicy.Parse("30-qfw.policy", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	firstUse := map[int]int{}
	for i, s := range ref.steps {
		for _, e := range s.evaluations {
			if _, ok := firstUse[e.Line]; e.Allowed && !ok {
				firstUse[e.Line] = i
			}
		}
	}
	lines := strings.SplitAfter(text, "\n")
	for _, rule := range p.Rules {
		i, ok := firstUse[rule.Line]
		if !ok {
			t.Errorf("line %d: %s: no command needs it", rule.Line, rule)
			continue
		}
		t.Run(fmt.Sprint(rule.Line), func(t *testing.T) {
			t.Parallel()
			without := slices.Clone(lines)
			without[rule.Line-1] = "\n"
			got := runMgmtCommand(t, dir, strings.Join(without, ""), ref.qubes[i], ref.data[i], mgmtCommands[i])
			if got.same(ref.steps[i]) {
				t.Fatalf("without %q, %s does as before", rule, mgmtCommands[i].name)
			}
			t.Logf("without %q, %s: exit %d (was %d), dom0 refused %v\n%s", rule, mgmtCommands[i].name, got.code, ref.steps[i].code, got.refused, got.stderr)
		})
	}
}

// The policy allows nothing qfw does not do: with it in force, dom0 refuses
// every other call from mgmt, and changes nothing.
func TestSetupQrexecPolicyRefusesTheRest(t *testing.T) {
	dir := mgmtPolicyDir(t)
	p, err := qrexecpolicy.Parse("30-qfw.policy", []byte(mgmtQrexecPolicy(t, dir)))
	if err != nil {
		t.Fatal(err)
	}
	qubes := maps.Clone(mgmtQubes)
	qubes["personal"] = adminapitest.Qube{IP: "10.137.0.14", Netvm: "sys-firewall", Firewall: []string{"action=accept"}}
	qubes["mirage-fw"] = adminapitest.Qube{Class: "StandaloneVM", IP: "10.137.0.15", Netvm: "sys-net", ProvidesNetwork: true}
	srv := adminapitest.New(t, qubes)
	srv.SetPolicy(p)
	client := &adminapi.Client{Transport: adminapi.Qrexec{Path: srv.QrexecClient(t, "mgmt")}}
	ctx := context.Background()
	for _, tc := range []struct {
		what string
		call func() error
	}{
		{"set the rules of a qube not tagged", func() error { return client.FirewallSet(ctx, "personal", []string{"action=accept"}) }},
		{"tag a qube the policy does not manage", func() error { return client.SetTag(ctx, "personal", "qfw-managed") }},
		{"give a managed qube another tag", func() error { return client.SetTag(ctx, "work", "other") }},
		{"take another tag away", func() error { return client.RemoveTag(ctx, "old", "other") }},
		{"change a qube's netvm", func() error { return client.SetProperty(ctx, "work", "netvm", "") }},
		{"change a property of a qube the policy does not provision", func() error { return client.SetProperty(ctx, "personal", "kernel", "") }},
		{"set a feature it does not set", func() error { return client.SetFeature(ctx, "mirage-fw", "service.sshd", "1") }},
		{"set a firewall qube's property it does not set", func() error { return client.SetProperty(ctx, "mirage-fw", "template", "") }},
		{"read a property it does not read", func() error { _, err := client.Property(ctx, "work", "kernel"); return err }},
		{"read dom0's properties", func() error { _, err := client.Property(ctx, "dom0", "label"); return err }},
		{"read a feature of another qube", func() error { _, _, err := client.Feature(ctx, "work", "qubes-firewall"); return err }},
		{"create a qube of another class", func() error { return client.Create(ctx, "AppVM", "evil", "red") }},
		{"reload a firewall", func() error { return client.FirewallReload(ctx, "work") }},
		{"kill a qube", func() error { _, err := client.Call(ctx, "admin.vm.Kill", "", "work", nil); return err }},
		{"set a global property", func() error {
			_, err := client.Call(ctx, "admin.property.Set", "default_netvm", "dom0", []byte("work"))
			return err
		}},
	} {
		if err := tc.call(); err == nil || !strings.HasSuffix(err.Error(), ": refused by dom0's qrexec policy") {
			t.Errorf("%s: %v; want refused by dom0's qrexec policy", tc.what, err)
		}
	}
	for name, want := range qubes {
		got, _ := srv.Qube(name)
		if !slices.Equal(got.Firewall, want.Firewall) || !slices.Equal(got.Tags, want.Tags) || got.Netvm != want.Netvm || len(got.Properties)+len(got.Features) > 0 {
			t.Errorf("%s changed: %+v", name, got)
		}
	}
	if _, ok := srv.Qube("evil"); ok {
		t.Error("qube evil was created")
	}
}

// A policy that manages a qube the installed qrexec policy does not name
// is applied to the others; that qube is refused before anything changes
// it, and keeps its list.
func TestSetupQrexecPolicyNewQubeRefused(t *testing.T) {
	qubes := maps.Clone(mgmtQubes)
	qubes["personal"] = adminapitest.Qube{IP: "10.137.0.14", Netvm: "sys-firewall", Firewall: []string{"action=accept"}}
	installed := mgmtQrexecPolicy(t, policyDirFor(t, qubes, mgmtPolicy))
	dir := policyDirFor(t, qubes, mgmtPolicy+`qubes: personal: allow: web: {to: "any", tcp: [443]}
`)
	step := runMgmtCommand(t, dir, installed, qubes, "", mgmtCommands[0])
	want := "qfw: personal: mark it qfw-managed: personal admin.vm.tag.Set+qfw-managed: refused by dom0's qrexec policy\n"
	if step.code != 1 || !strings.HasSuffix(step.stderr, want) || !strings.Contains(step.stdout, "personal   failed, unchanged\n") {
		t.Errorf("apply: exit %d\n%s%s\nwant exit 1 and %q", step.code, step.stdout, step.stderr, want)
	}
	if got := step.after["personal"]; !slices.Equal(got.Firewall, []string{"action=accept"}) || got.Tags != nil {
		t.Errorf("personal: %+v; want its list and tags as they were", got)
	}
	if got := step.after["work"]; !slices.Equal(got.Firewall, []string{"action=accept proto=tcp dstports=443-443 comment=web"}) {
		t.Errorf("work: %q; want its new list", got.Firewall)
	}
}
