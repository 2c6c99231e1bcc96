package deploy

import (
	"bytes"
	"path/filepath"
	"reflect"
	"testing"
)

// TestWriteLeft says what apply does to the qubes that left the policy,
// by what it is told to release and reset, and whether that is work.
func TestWriteLeft(t *testing.T) {
	p := &Plan{Left: []string{"old", "older", "oldest"}, Summary: PlanSummary{Unchanged: 1, Left: 3}}
	tests := []struct {
		name           string
		release, reset []string
		stdout, stderr string
		work           bool
	}{{
		name: "kept",
		stderr: "qfw: warning: old left the policy; apply keeps its list as it is (--release old stops managing it, --reset old blocks its traffic)\n" +
			"qfw: warning: older left the policy; apply keeps its list as it is (--release older stops managing it, --reset older blocks its traffic)\n" +
			"qfw: warning: oldest left the policy; apply keeps its list as it is (--release oldest stops managing it, --reset oldest blocks its traffic)\n",
	}, {
		name:    "released and reset",
		release: []string{"old"},
		reset:   []string{"oldest"},
		stdout: "old: --release: its tag qfw-managed goes, its list stays as it is.\n" +
			"oldest: --reset: its list becomes \"action=drop\", which blocks all its traffic, and its tag qfw-managed goes.\n",
		stderr: "qfw: warning: older left the policy; apply keeps its list as it is (--release older stops managing it, --reset older blocks its traffic)\n",
		work:   true,
	}}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		o := &ApplyOptions{Release: tt.release, Reset: tt.reset, Stdout: &stdout, Stderr: &stderr}
		o.WriteLeft(p)
		if stdout.String() != tt.stdout || stderr.String() != tt.stderr {
			t.Errorf("%s: stdout\n%s\nstderr\n%s\nwant\n%s\nand\n%s", tt.name, stdout.String(), stderr.String(), tt.stdout, tt.stderr)
		}
		if got := o.Work(p); got != tt.work {
			t.Errorf("%s: work %t; want %t", tt.name, got, tt.work)
		}
	}
}

// TestReadSavedPlan reads back a saved plan, and refuses a file that is
// not one.
func TestReadSavedPlan(t *testing.T) {
	b, _ := buildTest(t, map[string]string{"policy.cue": testPolicy})
	state := t.TempDir()
	writeTestFiles(t, state, map[string]string{"work.rules": "action=drop\n", "vault.rules": "action=drop\n"})
	p, err := MakePlan(t.Context(), b, &PlanOptions{State: state, DataDir: t.TempDir(), Warnings: new(bytes.Buffer)})
	if err != nil {
		t.Fatal(err)
	}
	data, err := MarshalPlan(p)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	saved, notPlan := filepath.Join(dir, "plan.json"), filepath.Join(dir, "inventory.json")
	writeTestFiles(t, dir, map[string]string{"plan.json": string(data), "inventory.json": testInventory})
	got, err := Admin{}.ReadSavedPlan(saved)
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Errorf("the saved plan reads back as %+v, %v; want %+v", got, err, p)
	}
	_, err = Admin{}.ReadSavedPlan(notPlan)
	if want := notPlan + `:1:1: the file has no field "format_version"`; err == nil || err.Error() != want {
		t.Errorf("an inventory read as a plan: %v; want %s", err, want)
	}
}
