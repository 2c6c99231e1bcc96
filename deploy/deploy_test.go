package deploy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/internal/workdir"
)

const testPolicy = `package policy

qubes: {
	work: {
		allow: dns: dns: true
		allow: web: {to: "any", service: tcp: [443]}
	}
	vault: network: false
}
tests: [{from: "work", to: "192.0.2.1", port: 443, expect: "accept"}]
`

const testInventory = `{"qubes": {
	"work": {"ip": "10.137.0.11", "netvm": "sys-firewall", "tags": ["qfw-managed"]},
	"vault": {},
	"personal": {"ip": "10.137.0.12", "netvm": "sys-firewall"},
	"sys-firewall": {"ip": "10.137.0.5", "netvm": "sys-net", "provides_network": true},
	"sys-net": {"ip": "10.137.0.2", "provides_network": true}
}}`

// buildTest builds files, with testInventory, in a directory it returns,
// and fails t on any warning or error.
func buildTest(t *testing.T, files map[string]string) (*Built, string) {
	t.Helper()
	dir := t.TempDir()
	files["inventory.json"] = testInventory
	writeTestFiles(t, dir, files)
	b, warnings, errs := Build(BuildOptions{Args: []string{dir}, Now: time.Unix(1_800_000_000, 0), Tests: true})
	if len(warnings)+len(errs) > 0 {
		t.Fatalf("build: warnings %v, errors %v", warnings, errs)
	}
	return b, dir
}

// TestBuildTests runs the policy's tests when asked, and a failed test is
// an error at the test, in the policy's words.
func TestBuildTests(t *testing.T) {
	dir := t.TempDir()
	writeTestFiles(t, dir, map[string]string{
		"policy.cue":     strings.Replace(testPolicy, `expect: "accept"`, `expect: "drop"`, 1),
		"inventory.json": testInventory,
	})
	opts := BuildOptions{Args: []string{dir}, Now: time.Unix(1_800_000_000, 0)}
	if b, _, errs := Build(opts); b == nil || errs != nil {
		t.Fatalf("build without the tests: %v", errs)
	}
	opts.Tests = true
	b, _, errs := Build(opts)
	var got []string
	for _, e := range errs {
		msg := workdir.Pos(e.Position()) + ": " + strings.Join(e.Path(), ".") + ": " + diagMessage(e)
		got = append(got, strings.ReplaceAll(msg, dir+"/", ""))
	}
	want := []string{"policy.cue:10:9: tests.0: work to 192.0.2.1: expected drop, but in sys-firewall (qubes) tcp 443 to 192.0.2.1 gets accept by allow.web (policy.cue:6:10)"}
	if b != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("build with a failing test: %v, errors\n%q\nwant\n%q", b, got, want)
	}
}

// TestMakePlanState plans from a state directory through the Go API
// alone: the edits, the qubes to tag, those the policy leaves out, and a
// plan that saves and reads back as it was.
func TestMakePlanState(t *testing.T) {
	b, dir := buildTest(t, map[string]string{"policy.cue": testPolicy})
	state := t.TempDir()
	writeTestFiles(t, state, map[string]string{
		"work.rules":  "action=accept proto=tcp dstports=443-443 comment=web\r\n",
		"vault.rules": "action=drop comment=network-false\n",
	})
	var warnings bytes.Buffer
	p, err := MakePlan(context.Background(), b, &PlanOptions{State: state, DataDir: t.TempDir(), Warnings: &warnings})
	if err != nil {
		t.Fatal(err)
	}
	if warnings.Len() > 0 {
		t.Errorf("warnings: %s", warnings.String())
	}
	var got []string
	for _, q := range p.Qubes {
		for _, e := range q.Edits {
			got = append(got, q.Name+" "+e.Op+" "+e.Line+" # "+e.Rule+" "+strings.TrimPrefix(e.Position, dir+"/"))
		}
	}
	want := []string{
		"vault ~ action=drop comment=network-false #  policy.cue:8:2",
		"work + action=accept specialtarget=dns comment=dns # allow.dns policy.cue:5:10",
		"work ~ action=accept proto=tcp dstports=443-443 comment=web # allow.web policy.cue:6:10",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("edits:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantSummary := PlanSummary{Change: 1, Unchanged: 1, Add: 1, Unmanaged: 1, Mark: 1}
	if p.Summary != wantSummary || !reflect.DeepEqual(p.Unmanaged, []string{"personal"}) {
		t.Errorf("summary %+v, unmanaged %q; want %+v, [personal]", p.Summary, p.Unmanaged, wantSummary)
	}
	if !p.Summary.Changes() || !p.Summary.Work() {
		t.Errorf("a plan that changes work says it changes nothing")
	}

	saved := filepath.Join(t.TempDir(), "plan.json")
	data, err := MarshalPlan(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(saved, data, 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := readPlan(saved)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, p) {
		t.Errorf("the saved plan reads back otherwise:\n%+v\nwas\n%+v", again, p)
	}
}

// TestMakePlanMissingState refuses to plan a qube the state has no list
// for: a plan against a guess is worse than none.
func TestMakePlanMissingState(t *testing.T) {
	b, _ := buildTest(t, map[string]string{"policy.cue": testPolicy})
	state := t.TempDir()
	writeTestFiles(t, state, map[string]string{"work.rules": "action=drop\n"})
	_, err := MakePlan(context.Background(), b, &PlanOptions{State: state, DataDir: t.TempDir(), Warnings: new(bytes.Buffer)})
	if want := "--state " + state + ": no rule list for vault"; err == nil || err.Error() != want {
		t.Errorf("plan: %v; want %s", err, want)
	}
}
