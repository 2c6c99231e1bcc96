package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/encoding/yaml"
)

// The fleet example's CI workflow and its Salt files
// are read by GitHub and Salt, not by qfw. These tests hold them to the
// example they serve: the machines they name are the example's, the qfw
// command lines they run succeed on each machine, and what they extract
// from qfw's output is what qfw prints. example_fleet.txtar checks the
// machines' policies themselves.

// fleetDir is the fleet example, from this package's directory.
const fleetDir = "../../examples/fleet"

// fleetMachines returns the example's machines: the directories at its
// top that hold an inventory.
func fleetMachines(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(fleetDir)
	if err != nil {
		t.Fatal(err)
	}
	var machines []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(fleetDir, e.Name(), "inventory.json")); err == nil {
			machines = append(machines, e.Name())
		}
	}
	if len(machines) < 2 {
		t.Fatalf("the fleet example has machines %q; want two or more", machines)
	}
	return machines
}

// decodeYAML reads the YAML file at path, in the fleet example, into v.
func decodeYAML(t *testing.T, path string, v any) {
	t.Helper()
	path = filepath.Join(fleetDir, path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := yaml.Extract(path, data)
	if err != nil {
		t.Fatalf("%s is not valid YAML: %v", path, err)
	}
	if err := cuecontext.New().BuildFile(f).Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

type workflowStep struct {
	Name string         `json:"name"`
	If   string         `json:"if"`
	Uses string         `json:"uses"`
	With map[string]any `json:"with"`
	Run  string         `json:"run"`
}

type workflowJob struct {
	Name     string `json:"name"`
	RunsOn   string `json:"runs-on"`
	Strategy struct {
		FailFast *bool `json:"fail-fast"`
		Matrix   struct {
			Machine []string `json:"machine"`
		} `json:"matrix"`
	} `json:"strategy"`
	Env   map[string]string `json:"env"`
	Steps []workflowStep    `json:"steps"`
}

type workflow struct {
	Name        string                 `json:"name"`
	On          map[string]any         `json:"on"`
	Permissions map[string]string      `json:"permissions"`
	Env         map[string]string      `json:"env"`
	Jobs        map[string]workflowJob `json:"jobs"`
}

// fleetJob returns the workflow, and its one job.
func fleetJob(t *testing.T) (*workflow, *workflowJob) {
	t.Helper()
	var wf workflow
	decodeYAML(t, ".github/workflows/policy.yml", &wf)
	job, ok := wf.Jobs["check"]
	if len(wf.Jobs) != 1 || !ok {
		t.Fatalf("jobs %q; want one, check", slices.Sorted(maps.Keys(wf.Jobs)))
	}
	return &wf, &job
}

// step returns the job's step of that name.
func (job *workflowJob) step(t *testing.T, name string) workflowStep {
	t.Helper()
	for _, s := range job.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("the workflow has no step %q", name)
	return workflowStep{}
}

// runStep runs a step's script with bash in dir, as the runner does on
// Linux, with env added to the test's environment. The qfw on $PATH is
// this test binary (testscript.Main puts it there).
func runStep(t *testing.T, dir, script string, env ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command("bash", "-e", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// TestExampleFleetWorkflow checks the fleet's workflow: one job per
// machine of the example, read-only, with the steps below in this order;
// the steps that annotate, vet and test succeed on each machine, run as
// the runner runs them from the repository's top.
func TestExampleFleetWorkflow(t *testing.T) {
	wf, job := fleetJob(t)
	if got := slices.Sorted(maps.Keys(wf.On)); !slices.Equal(got, []string{"pull_request", "push"}) {
		t.Errorf("on: %q; want pull_request and push", got)
	}
	if want := map[string]string{"contents": "read"}; !maps.Equal(wf.Permissions, want) {
		t.Errorf("permissions: %v; want %v", wf.Permissions, want)
	}
	if wf.Env["QFW_VERSION"] == "" {
		t.Errorf("env.QFW_VERSION is empty")
	}
	machines := fleetMachines(t)
	if got := job.Strategy.Matrix.Machine; !slices.Equal(got, machines) {
		t.Errorf("matrix.machine: %q; want the example's machines %q", got, machines)
	}
	if ff := job.Strategy.FailFast; ff == nil || *ff {
		t.Errorf("fail-fast is not false: one machine's failure would hide another's")
	}
	if got := job.Env["MACHINE"]; got != "${{ matrix.machine }}" {
		t.Errorf("env.MACHINE: %q; want the matrix's machine", got)
	}

	want := []workflowStep{
		{Name: "Check out", Uses: "actions/checkout@v4"},
		{Name: "Set up Go", Uses: "actions/setup-go@v5"},
		{Name: "Install qfw", Run: `go install "github.com/qfw-dev/qfw/cmd/qfw@$QFW_VERSION"`},
		{Name: "Vet", Run: `qfw vet --format github --skip-tests "$MACHINE"`},
		{Name: "Test", Run: `qfw test --format github "$MACHINE"`},
		{Name: "Diff against the base branch", If: "github.event_name == 'pull_request'", Run: diffStep},
	}
	got := job.Steps
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("step %d: missing; want %q", i+1, want[i].Name)
		case i >= len(want):
			t.Errorf("step %d: %q; want no more steps", i+1, got[i].Name)
		default:
			g, w := got[i], want[i]
			g.With = nil
			if strings.TrimSpace(g.Run) != w.Run || g.Name != w.Name || g.If != w.If || g.Uses != w.Uses {
				t.Errorf("step %d:\n got %+v\nwant %+v", i+1, g, w)
			}
		}
	}
	// The diff step checks out the base branch beside the head.
	if depth := job.step(t, "Check out").With["fetch-depth"]; fmt.Sprint(depth) != "0" {
		t.Errorf("checkout fetch-depth: %v; want 0, for the base branch", depth)
	}

	top, err := filepath.Abs(fleetDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range machines {
		for _, name := range []string{"Vet", "Test"} {
			stdout, stderr, err := runStep(t, top, job.step(t, name).Run, "MACHINE="+m)
			if err != nil {
				t.Errorf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, m, err, stdout, stderr)
			}
			if strings.Contains(stdout, "::error") {
				t.Errorf("%s %s annotates errors:\n%s", name, m, stdout)
			}
		}
	}
}

// diffStep is the workflow's diff step.
const diffStep = `base=".base/$MACHINE"
git worktree add --quiet --detach .base "origin/$GITHUB_BASE_REF"
if [ ! -d "$base" ]; then
  echo "$MACHINE is new in this pull request." >> "$GITHUB_STEP_SUMMARY"
  exit 0
fi
qfw diff --format markdown "$base" "$MACHINE" >> "$GITHUB_STEP_SUMMARY" || [ $? -eq 2 ]`

// TestExampleFleetDiff runs the workflow's diff step on a pull request
// against a base branch that had no home-desktop yet and whose shared web
// service lacked port 80: the laptop's summary shows the qubes whose
// shared profile widens, the desktop's says it is new. The base is checked
// out whole: a base of the machine's directory alone would not load, as
// its policy imports the shared package.
func TestExampleFleetDiff(t *testing.T) {
	_, job := fleetJob(t)
	script := job.step(t, "Diff against the base branch").Run
	for _, m := range fleetMachines(t) {
		t.Run(m, func(t *testing.T) {
			repo := t.TempDir()
			if err := os.CopyFS(repo, os.DirFS(fleetDir)); err != nil {
				t.Fatal(err)
			}
			names := filepath.Join(repo, "shared/names.cue")
			src, err := os.ReadFile(names)
			if err != nil {
				t.Fatal(err)
			}
			old := strings.Replace(string(src), "web: tcp: [80, 443]", "web: tcp: [443]", 1)
			if old == string(src) {
				t.Fatal("shared/names.cue has no web service with ports 80 and 443")
			}
			desktop := filepath.Join(t.TempDir(), "home-desktop")
			git := func(args ...string) {
				t.Helper()
				cmd := exec.Command("git", args...)
				cmd.Dir = repo
				cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
					"GIT_AUTHOR_NAME=qfw", "GIT_AUTHOR_EMAIL=qfw@example.com",
					"GIT_COMMITTER_NAME=qfw", "GIT_COMMITTER_EMAIL=qfw@example.com")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			}
			// The base: the shared change undone, the desktop not there.
			if err := os.WriteFile(names, []byte(old), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(repo, "home-desktop"), desktop); err != nil {
				t.Fatal(err)
			}
			git("init", "-q", "-b", "main")
			git("add", ".")
			git("commit", "-q", "-m", "base")
			git("update-ref", "refs/remotes/origin/main", "HEAD")
			// The head: the repository as it is.
			if err := os.WriteFile(names, src, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(desktop, filepath.Join(repo, "home-desktop")); err != nil {
				t.Fatal(err)
			}
			git("checkout", "-q", "-b", "change")
			git("add", ".")
			git("commit", "-q", "-m", "head")

			summary := filepath.Join(t.TempDir(), "summary.md")
			stdout, stderr, err := runStep(t, repo, script,
				"MACHINE="+m, "GITHUB_BASE_REF=main", "GITHUB_STEP_SUMMARY="+summary,
				"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
			if err != nil || stdout != "" {
				t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
			}
			got, err := os.ReadFile(summary)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != wantFleetDiff[m] {
				t.Errorf("summary:\n%s\nwant:\n%s", got, wantFleetDiff[m])
			}
		})
	}
}

var wantFleetDiff = map[string]string{
	"home-desktop": "home-desktop is new in this pull request.\n",
	"work-laptop": "### qfw diff: `.base/work-laptop` → `work-laptop`\n" + `
3 widenings and no narrowing of access, in 3 qubes.

#### Widened access (now reachable)

| qube | packets | now | was |
|---|---|---|---|
| default-dvm | tcp 80 to 0.0.0.0/0 (except 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) | accept by allow.web (shared/profiles.cue:17:10) | drop: no rule matches |
| dev | tcp 80 to 0.0.0.0/0 (except 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) | accept by allow.web (shared/profiles.cue:17:10) | drop: no rule matches |
| disp3907 | tcp 80 to 0.0.0.0/0 (except 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) | accept by allow.web (shared/profiles.cue:17:10) | drop: no rule matches |
`,
}

// TestExampleFleetVetAnnotations runs the workflow's vet step on a machine
// with an error in its own file and warnings from the shared one: each
// becomes an annotation at its file, line and column, with the paths of
// the repository the workflow runs in. A policy that does not load fails
// the step with qfw's own message.
func TestExampleFleetVetAnnotations(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(fleetDir)); err != nil {
		t.Fatal(err)
	}
	qubes := filepath.Join(dir, "work-laptop/qubes.cue")
	src, err := os.ReadFile(qubes)
	if err != nil {
		t.Fatal(err)
	}
	src = []byte(strings.Replace(string(src), "personal: profiles.internetOnly & {", "personal: profiles.internetOnly & {\n\t\tallow: ftp: {to: \"any\", tcp: [21, 70000]}", 1))
	if err := os.WriteFile(qubes, src, 0o644); err != nil {
		t.Fatal(err)
	}
	_, job := fleetJob(t)
	vet := job.step(t, "Vet").Run
	stdout, stderr, err := runStep(t, dir, vet, "MACHINE=work-laptop")
	if err == nil || stderr != "" {
		t.Fatalf("vet: %v, stderr %q; want it to fail, printing nothing there", err, stderr)
	}
	want := `::warning file=shared/profiles.cue,line=31,col=16,title=hostname::qubes.dev.allow.git: github.com is resolved by the firewall qube and enforced by address: qfw agent follows its time to live, qfw apply resolves it when the table is built; while it does not resolve, an allow to it matches nothing
::warning file=work-laptop/qubes.cue,line=21,col=23,title=hostname::qubes.dev.allow."corp-git": git.corp.example is resolved by the firewall qube and enforced by address: qfw agent follows its time to live, qfw apply resolves it when the table is built; while it does not resolve, an allow to it matches nothing
::error file=work-laptop/qubes.cue,line=39,col=37::qubes.personal.allow.ftp: port "70000" is out of range; ports are 0 to 65535
`
	if stdout != want {
		t.Errorf("vet's annotations:\n%s\nwant:\n%s", stdout, want)
	}

	stdout, stderr, err = runStep(t, dir, vet, "MACHINE=nowhere")
	if err == nil || strings.Contains(stdout, "::warning") || !strings.Contains(stdout+stderr, "nowhere") {
		t.Errorf("vet of a machine that does not exist: %v\nstdout:\n%s\nstderr:\n%s\nwant a failure that names it", err, stdout, stderr)
	}
}

// TestExampleFleetSalt checks the fleet's Salt files: the top file gives
// each machine's dom0, by its qfw_machine grain, that machine's state, and
// each state applies that machine's policy with qfw.applied.
func TestExampleFleetSalt(t *testing.T) {
	machines := fleetMachines(t)
	var top map[string]map[string][]any
	decodeYAML(t, "salt/qfw-fleet.top", &top)
	if got := slices.Sorted(maps.Keys(top)); !slices.Equal(got, []string{"base"}) {
		t.Errorf("top file environments %q; want base", got)
	}
	targets := slices.Sorted(maps.Keys(top["base"]))
	var want []string
	for _, m := range machines {
		want = append(want, "dom0 and G@qfw_machine:"+m)
	}
	if !slices.Equal(targets, want) {
		t.Errorf("top file targets %q; want %q", targets, want)
	}
	for _, m := range machines {
		got, _ := json.Marshal(top["base"]["dom0 and G@qfw_machine:"+m])
		if want := `[{"match":"compound"},"qfw-fleet.` + m + `"]`; string(got) != want {
			t.Errorf("top file, %s: %s; want %s", m, got, want)
		}
	}

	sls, err := filepath.Glob(filepath.Join(fleetDir, "salt/qfw-fleet/*.sls"))
	if err != nil {
		t.Fatal(err)
	}
	var stateMachines []string
	for _, f := range sls {
		stateMachines = append(stateMachines, strings.TrimSuffix(filepath.Base(f), ".sls"))
	}
	if !slices.Equal(stateMachines, machines) {
		t.Errorf("states for %q; want one for each machine %q", stateMachines, machines)
	}
	for _, m := range stateMachines {
		var state map[string]map[string][]map[string]string
		decodeYAML(t, "salt/qfw-fleet/"+m+".sls", &state)
		got, _ := json.Marshal(state)
		if want := `{"qfw-fleet-policy":{"qfw.applied":[{"policy":"/usr/share/qfw-fleet/` + m + `"},{"data_dir":"/var/lib/qfw"}]}}`; string(got) != want {
			t.Errorf("salt/qfw-fleet/%s.sls: %s; want %s", m, got, want)
		}
	}
}
