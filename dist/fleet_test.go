package dist_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/qfw-dev/qfw/backends/qubes/adminapi/adminapitest"
	"github.com/qfw-dev/qfw/backends/qubes/qrexecpolicy"
)

// need returns the path of program, skipping the test without it, or
// failing it in CI (CI set), where every integration must be tested.
func need(t *testing.T, program string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the fleet tests need %s (apt-get install ansible-core python3)", program)
		}
		t.Skipf("the fleet tests need %s (apt-get install ansible-core python3)", program)
	}
	return path
}

var (
	buildOnce sync.Once
	qfwBin    string
	buildErr  error
	buildOut  []byte
)

// qfw builds qfw once for the package's tests and returns its path.
func qfw(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "qfw-fleet-")
		if err != nil {
			buildErr = err
			return
		}
		qfwBin = filepath.Join(dir, "qfw")
		buildOut, buildErr = exec.Command("go", "build", "-o", qfwBin, "github.com/qfw-dev/qfw/cmd/qfw").CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build qfw: %v\n%s", buildErr, buildOut)
	}
	return qfwBin
}

// cleanup runs the tests, then removes the qfw they built.
type cleanup struct{ m *testing.M }

func (c cleanup) Run() int {
	code := c.m.Run()
	if qfwBin != "" {
		os.RemoveAll(filepath.Dir(qfwBin))
	}
	return code
}

func TestMain(m *testing.M) {
	testscript.Main(cleanup{m}, map[string]func(){
		// The stand-in for qrexec-client-vm in the management qube.
		adminapitest.QrexecClientCommand: func() { os.Exit(adminapitest.QrexecClientMain()) },
	})
}

// The machine both integrations manage: two qubes behind sys-firewall
// that allow everything, and a policy that narrows each to one service.
var (
	machine = map[string]adminapitest.Qube{
		"sys-net":      {IP: "10.137.0.5", ProvidesNetwork: true},
		"sys-firewall": {IP: "10.137.0.6", Netvm: "sys-net", ProvidesNetwork: true},
		"work":         {IP: "10.137.0.11", Netvm: "sys-firewall", Firewall: []string{"action=accept"}},
		"dev":          {IP: "10.137.0.12", Netvm: "sys-firewall", Firewall: []string{"action=accept"}},
		"mgmt":         {},
	}
	inventory = `{"qubes": {
  "sys-net": {"ip": "10.137.0.5", "provides_network": true},
  "sys-firewall": {"ip": "10.137.0.6", "netvm": "sys-net", "provides_network": true},
  "work": {"ip": "10.137.0.11", "netvm": "sys-firewall"},
  "dev": {"ip": "10.137.0.12", "netvm": "sys-firewall"},
  "mgmt": {}
}}
`
	policy = `package policy

qubes: work: allow: web: {to: "any", tcp: [443]}
qubes: dev: allow: git: {to: "192.0.2.0/24", tcp: [22]}
`
	// workOnly no longer names dev.
	workOnly = `package policy

qubes: work: allow: web: {to: "any", tcp: [443]}
`
	// badPolicy does not check: a port out of range.
	badPolicy = `package policy

qubes: work: allow: web: {to: "any", tcp: [70000]}
`
	workRules = []string{"action=accept proto=tcp dstports=443-443 comment=web"}
	devRules  = []string{"action=accept dst4=192.0.2.0/24 proto=tcp dstports=22-22 comment=git"}
)

// change is what an integration reports of one qube.
type change struct {
	Old []string `json:"old,omitempty"`
	New []string `json:"new,omitempty"`
	Tag string   `json:"tag,omitempty"`
}

// outcome is one run of an integration, in the terms both share.
type outcome struct {
	Changed, Failed bool
	// Msg is the Ansible module's msg, or the Salt state's comment.
	Msg     string
	Changes map[string]change
	// Warnings are the Ansible task's warnings; the Salt state puts
	// qfw's in its comment.
	Warnings []string
}

// engine runs the integration once, in check (test) mode or for real,
// with the module's or state's arguments.
type engine interface {
	run(t *testing.T, check bool, args map[string]any) outcome
}

// fixture is a machine served by a fake qubesd, with the policy in a
// directory and qfw's record and lock beside it.
type fixture struct {
	srv                    *adminapitest.Server
	dir, policy, left, bad string
	qfw                    string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{srv: adminapitest.New(t, machine), dir: t.TempDir(), qfw: qfw(t)}
	f.policy, f.left, f.bad = filepath.Join(f.dir, "policy"), filepath.Join(f.dir, "left"), filepath.Join(f.dir, "bad")
	for dir, text := range map[string]string{f.policy: policy, f.left: workOnly, f.bad: badPolicy} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range map[string]string{"policy.cue": text, "inventory.json": inventory} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(b), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return f
}

// args returns the arguments that point qfw at the fixture, with more.
func (f *fixture) args(more map[string]any) map[string]any {
	a := map[string]any{
		"executable": f.qfw,
		"socket":     f.srv.Path,
		"data_dir":   filepath.Join(f.dir, "data"),
		"lock":       filepath.Join(f.dir, "apply.lock"),
	}
	for k, v := range more {
		a[k] = v
	}
	return a
}

// writes returns the calls so far that change something.
func (f *fixture) writes() []string {
	var out []string
	for _, r := range f.srv.Requests() {
		if !strings.HasSuffix(r.Method, ".Get") && !strings.HasSuffix(r.Method, ".List") {
			out = append(out, r.Method+" "+r.Dest)
		}
	}
	return out
}

func (f *fixture) wantLists(t *testing.T, step string, want map[string][]string) {
	t.Helper()
	for qube, rules := range want {
		if got := f.srv.Firewall(qube); !slices.Equal(got, rules) {
			t.Errorf("%s: qubesd holds for %s %q; want %q", step, qube, got, rules)
		}
	}
}

func (f *fixture) edit(qube string, rules ...string) {
	f.srv.Update(qube, func(q *adminapitest.Qube) { q.Firewall = rules })
}

// testEngine runs the scenario both integrations share: plan in check
// mode, apply, nothing left to do, a hand edit refused and then replaced,
// a saved plan gone stale, and a policy that does not check.
func testEngine(t *testing.T, e engine) {
	f := newFixture(t)
	initial := map[string][]string{"work": {"action=accept"}, "dev": {"action=accept"}}
	applied := map[string][]string{"work": workRules, "dev": devRules}
	planned := map[string]change{
		"work": {Old: []string{"action=accept"}, New: workRules, Tag: "qfw-managed"},
		"dev":  {Old: []string{"action=accept"}, New: devRules, Tag: "qfw-managed"},
	}

	// Check mode plans and changes nothing.
	got := e.run(t, true, f.args(map[string]any{"policy": []string{f.policy}}))
	if !got.Changed || got.Failed || !reflect.DeepEqual(got.Changes, planned) {
		t.Errorf("check mode: changed %t, failed %t (%s), changes %+v; want changed, not failed, %+v", got.Changed, got.Failed, got.Msg, got.Changes, planned)
	}
	if w := f.writes(); w != nil {
		t.Errorf("check mode wrote %q; want nothing", w)
	}
	f.wantLists(t, "check mode", initial)

	// A real run applies that plan, tagging the qubes.
	got = e.run(t, false, f.args(map[string]any{"policy": []string{f.policy}}))
	if !got.Changed || got.Failed || !reflect.DeepEqual(got.Changes, planned) {
		t.Errorf("apply: changed %t, failed %t (%s), changes %+v; want changed, not failed, %+v", got.Changed, got.Failed, got.Msg, got.Changes, planned)
	}
	f.wantLists(t, "apply", applied)
	for _, qube := range []string{"work", "dev"} {
		if q, _ := f.srv.Qube(qube); !slices.Contains(q.Tags, "qfw-managed") {
			t.Errorf("apply: %s is tagged %q; want qfw-managed", qube, q.Tags)
		}
	}

	// Again: nothing to do, in either mode.
	n := len(f.writes())
	for _, check := range []bool{true, false} {
		got = e.run(t, check, f.args(map[string]any{"policy": []string{f.policy}}))
		if got.Changed || got.Failed || len(got.Changes) > 0 {
			t.Errorf("apply again (check mode %t): changed %t, failed %t (%s), changes %+v; want nothing", check, got.Changed, got.Failed, got.Msg, got.Changes)
		}
	}
	if w := f.writes()[n:]; len(w) > 0 {
		t.Errorf("apply again wrote %q; want nothing", w)
	}

	// A list edited by hand: refused with refuse_drift, then replaced
	// with qfw's warning.
	edited := []string{"action=accept dst4=198.51.100.0/24", "action=drop"}
	f.edit("dev", edited...)
	got = e.run(t, false, f.args(map[string]any{"policy": []string{f.policy}, "refuse_drift": true}))
	if !got.Failed || got.Changed || !strings.Contains(got.Msg, "qfw: dev: its rules were edited outside qfw since qfw set them at ") || !strings.Contains(got.Msg, "; --refuse-drift leaves them") {
		t.Errorf("apply with refuse_drift over a hand edit: failed %t, changed %t, message %q; want failed with qfw's message", got.Failed, got.Changed, got.Msg)
	}
	f.wantLists(t, "refuse_drift", map[string][]string{"dev": edited, "work": workRules})
	got = e.run(t, false, f.args(map[string]any{"policy": []string{f.policy}}))
	warned := slices.ContainsFunc(append(got.Warnings, got.Msg), func(w string) bool {
		return strings.Contains(w, "dev: its rules were edited outside qfw since qfw set them at ") && strings.Contains(w, "; apply replaces those edits")
	})
	if !got.Changed || got.Failed || !warned || !reflect.DeepEqual(got.Changes, map[string]change{"dev": {Old: edited, New: devRules}}) {
		t.Errorf("apply over a hand edit: changed %t, failed %t, warned %t, changes %+v, message %q, warnings %q", got.Changed, got.Failed, warned, got.Changes, got.Msg, got.Warnings)
	}
	f.wantLists(t, "apply over a hand edit", applied)

	// A plan saved in check mode, gone stale for dev before it is
	// applied: work gets its list, dev keeps the one set since.
	f.edit("work", "action=drop")
	f.edit("dev", "action=drop")
	planFile := filepath.Join(f.dir, "plan.json")
	got = e.run(t, true, f.args(map[string]any{"policy": []string{f.policy}, "out": planFile}))
	if !got.Changed || got.Failed {
		t.Errorf("check mode with out: changed %t, failed %t (%s); want changed", got.Changed, got.Failed, got.Msg)
	}
	if _, err := os.Stat(planFile); err != nil {
		t.Errorf("check mode with out: %v", err)
	}
	// Check mode shows a saved plan as it was saved.
	n = len(f.writes())
	got = e.run(t, true, f.args(map[string]any{"plan": planFile}))
	if want := map[string]change{"work": {Old: []string{"action=drop"}, New: workRules}, "dev": {Old: []string{"action=drop"}, New: devRules}}; !got.Changed || got.Failed || !reflect.DeepEqual(got.Changes, want) {
		t.Errorf("check mode with plan: changed %t, failed %t (%s), changes %+v; want changed, %+v", got.Changed, got.Failed, got.Msg, got.Changes, want)
	}
	if w := f.writes()[n:]; len(w) > 0 {
		t.Errorf("check mode with plan wrote %q; want nothing", w)
	}
	f.edit("dev", "action=accept")
	got = e.run(t, false, f.args(map[string]any{"plan": planFile}))
	if !got.Failed || !got.Changed || !strings.Contains(got.Msg, "qfw: dev: its rules changed since the plan was made; plan again") ||
		!reflect.DeepEqual(got.Changes, map[string]change{"work": {Old: []string{"action=drop"}, New: workRules}}) {
		t.Errorf("apply of a stale plan: failed %t, changed %t, changes %+v, message %q; want failed, work changed, qfw's message", got.Failed, got.Changed, got.Changes, got.Msg)
	}
	f.wantLists(t, "apply of a stale plan", map[string][]string{"work": workRules, "dev": {"action=accept"}})

	// dev leaves the policy: nothing changes, and qfw's word on it is
	// passed on.
	n = len(f.writes())
	for _, check := range []bool{true, false} {
		got = e.run(t, check, f.args(map[string]any{"policy": []string{f.left}}))
		said := slices.ContainsFunc(append(got.Warnings, got.Msg), func(w string) bool {
			return strings.Contains(w, "dev: left the policy; qfw set its list and keeps it as it is. To stop managing it: qfw apply --release dev")
		})
		if got.Changed || got.Failed || !said {
			t.Errorf("dev left the policy (check mode %t): changed %t, failed %t, message %q, warnings %q; want no change, qfw's word on dev", check, got.Changed, got.Failed, got.Msg, got.Warnings)
		}
	}
	if w := f.writes()[n:]; len(w) > 0 {
		t.Errorf("dev left the policy: wrote %q; want nothing", w)
	}

	// A policy that does not check fails with qfw's own message, and
	// asks qubesd nothing.
	n = len(f.srv.Requests())
	var stderr bytes.Buffer
	cmd := exec.Command(f.qfw, "plan", "--socket", f.srv.Path, f.bad)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "policy.cue:3:") {
		t.Fatalf("qfw plan of the bad policy: %v, stderr %q; want a failure at policy.cue:3", err, stderr.String())
	}
	for _, check := range []bool{true, false} {
		got = e.run(t, check, f.args(map[string]any{"policy": []string{f.bad}}))
		if !got.Failed || got.Changed || got.Msg != strings.TrimSpace(stderr.String()) {
			t.Errorf("bad policy (check mode %t): failed %t, changed %t, message %q; want failed with qfw's message %q", check, got.Failed, got.Changed, got.Msg, strings.TrimSpace(stderr.String()))
		}
	}
	if r := f.srv.Requests()[n:]; len(r) > 0 {
		t.Errorf("a policy that does not check: qubesd was asked %d calls; want none", len(r))
	}
}

// testManagementQube runs the integration in the management qube mgmt,
// through qrexec, under the dom0 qrexec policy that qfw setup
// qrexec-policy writes for it: first with its Set rule narrowed to work,
// so that dom0 refuses dev's Set, then as written.
func testManagementQube(t *testing.T, e engine) {
	f := newFixture(t)
	out, err := exec.Command(f.qfw, "setup", "qrexec-policy", "--mgmt", "mgmt", f.policy).Output()
	if err != nil {
		t.Fatalf("qfw setup qrexec-policy: %v", err)
	}
	full := string(out)
	setRule := regexp.MustCompile(`(?m)^admin\.vm\.firewall\.Set( +\+ +mgmt +)@tag:qfw-managed( .*)$`)
	if !setRule.MatchString(full) {
		t.Fatalf("qfw setup qrexec-policy: no rule lets mgmt set the lists of @tag:qfw-managed:\n%s", full)
	}
	narrow := setRule.ReplaceAllString(full, "admin.vm.firewall.Set${1}work${2}")
	args := f.args(map[string]any{"policy": []string{f.policy}, "qrexec": true, "qrexec_client": f.srv.QrexecClient(t, "mgmt")})
	delete(args, "socket")
	enforce := func(text string) {
		p, err := qrexecpolicy.Parse("30-qfw.policy", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		f.srv.SetPolicy(p)
	}

	enforce(narrow)
	got := e.run(t, true, args)
	if !got.Changed || got.Failed || len(got.Changes) != 2 {
		t.Errorf("check mode from mgmt: changed %t, failed %t (%s), changes %+v; want both qubes to change", got.Changed, got.Failed, got.Msg, got.Changes)
	}
	got = e.run(t, false, args)
	if !got.Failed || !got.Changed || !strings.Contains(got.Msg, "qfw: dev: dev admin.vm.firewall.Set: refused by dom0's qrexec policy") ||
		!reflect.DeepEqual(got.Changes, map[string]change{"work": {Old: []string{"action=accept"}, New: workRules, Tag: "qfw-managed"}}) {
		t.Errorf("apply from mgmt with dev's Set refused: failed %t, changed %t, changes %+v, message %q; want failed, work changed, qfw's message", got.Failed, got.Changed, got.Changes, got.Msg)
	}
	f.wantLists(t, "dev's Set refused", map[string][]string{"work": workRules, "dev": {"action=accept"}})
	if r := f.srv.Refused(); len(r) != 1 || r[0].Service != "admin.vm.firewall.Set" || r[0].Target != "dev" {
		t.Errorf("dom0 refused %+v; want only dev's Set", r)
	}

	enforce(full)
	got = e.run(t, false, args)
	if !got.Changed || got.Failed || !reflect.DeepEqual(got.Changes, map[string]change{"dev": {Old: []string{"action=accept"}, New: devRules}}) {
		t.Errorf("apply from mgmt: changed %t, failed %t (%s), changes %+v; want dev changed", got.Changed, got.Failed, got.Msg, got.Changes)
	}
	f.wantLists(t, "apply from mgmt", map[string][]string{"work": workRules, "dev": devRules})
}

// ansible runs the module qfw with ansible-playbook, one task a play.
type ansible struct {
	playbook, dir string
	// diffs holds the diff of each check-mode run.
	diffs [][]map[string]string
}

func (a *ansible) run(t *testing.T, check bool, args map[string]any) outcome {
	t.Helper()
	play := []map[string]any{{
		"hosts": "localhost", "gather_facts": false,
		"vars":  map[string]any{"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
		"tasks": []map[string]any{{"name": "qfw", "qfw": args}},
	}}
	b, err := json.Marshal(play)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(a.dir, "play.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	cmdArgs := []string{"-i", "localhost,", "-c", "local", "-M", filepath.Join(root, "ansible", "library"), path}
	if check {
		cmdArgs = append(cmdArgs, "--check", "--diff")
	}
	cmd := exec.Command(a.playbook, cmdArgs...)
	cmd.Env = append(os.Environ(), "ANSIBLE_STDOUT_CALLBACK=json", "ANSIBLE_NOCOLOR=1", "ANSIBLE_HOME="+filepath.Join(a.dir, "home"),
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(a.dir, "tmp"), "ANSIBLE_REMOTE_TEMP="+filepath.Join(a.dir, "tmp"), "ANSIBLE_CONFIG="+filepath.Join(a.dir, "ansible.cfg"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var res struct {
		Plays []struct {
			Tasks []struct {
				Hosts map[string]struct {
					Changed  bool                `json:"changed"`
					Failed   bool                `json:"failed"`
					Msg      string              `json:"msg"`
					Changes  map[string]change   `json:"changes"`
					Warnings []string            `json:"warnings"`
					Diff     []map[string]string `json:"diff"`
				} `json:"hosts"`
			} `json:"tasks"`
		} `json:"plays"`
	}
	if jerr := json.Unmarshal(stdout.Bytes(), &res); jerr != nil || len(res.Plays) != 1 || len(res.Plays[0].Tasks) != 1 {
		t.Fatalf("ansible-playbook: %v, %v: stdout %s\nstderr %s", err, jerr, stdout.Bytes(), stderr.Bytes())
	}
	r, ok := res.Plays[0].Tasks[0].Hosts["localhost"]
	if !ok {
		t.Fatalf("ansible-playbook ran no task on localhost: %s", stdout.Bytes())
	}
	// ansible-playbook exits 2 when a task failed.
	if failed := err != nil; failed != r.Failed {
		t.Errorf("ansible-playbook: %v, but the task's failed is %t", err, r.Failed)
	}
	if check {
		a.diffs = append(a.diffs, r.Diff)
	}
	return outcome{Changed: r.Changed, Failed: r.Failed, Msg: r.Msg, Changes: r.Changes, Warnings: r.Warnings}
}

func TestAnsible(t *testing.T) {
	a := newAnsible(t)
	testEngine(t, a)
	// The first check-mode run's diff: each changed qube's list before
	// and after, as ansible-playbook --diff shows it.
	want := []map[string]string{
		{"before_header": "dev (rules in dom0)", "after_header": "dev (rules of the policy)", "before": "action=accept\n", "after": devRules[0] + "\n"},
		{"before_header": "work (rules in dom0)", "after_header": "work (rules of the policy)", "before": "action=accept\n", "after": workRules[0] + "\n"},
	}
	if len(a.diffs) == 0 || !reflect.DeepEqual(a.diffs[0], want) {
		t.Errorf("check mode --diff: diff %q; want %q", a.diffs, want)
	}
}

func TestAnsibleManagementQube(t *testing.T) {
	testManagementQube(t, newAnsible(t))
}

func newAnsible(t *testing.T) *ansible {
	a := &ansible{playbook: need(t, "ansible-playbook"), dir: t.TempDir()}
	// No ansible.cfg from the machine or the user: only the defaults.
	if err := os.WriteFile(filepath.Join(a.dir, "ansible.cfg"), []byte("[defaults]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return a
}

// salt runs the state qfw.applied through the stand-in for Salt's loader
// in dist/salt/tests/saltloader.py, which checks its return against
// Salt's state contract.
type salt struct{ python string }

func (s salt) run(t *testing.T, test bool, args map[string]any) outcome {
	t.Helper()
	req, err := json.Marshal(map[string]any{"test": test, "name": "qfw-policy", "kwargs": args})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(s.python, filepath.Join("salt", "tests", "saltloader.py"))
	cmd.Stdin = bytes.NewReader(req)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("qfw.applied %s: %v\n%s", req, err, stderr.Bytes())
	}
	var ret struct {
		Name    string            `json:"name"`
		Result  *bool             `json:"result"`
		Changes map[string]change `json:"changes"`
		Comment string            `json:"comment"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &ret); err != nil {
		t.Fatalf("qfw.applied: %v: %s", err, stdout.Bytes())
	}
	// As Qubes' qvm.* states: in test mode, None with changes to make,
	// True without; for real, True with or without changes, False on a
	// failure.
	switch {
	case test && ret.Result == nil && len(ret.Changes) == 0,
		test && ret.Result != nil && *ret.Result && len(ret.Changes) > 0,
		!test && ret.Result == nil:
		result := "None"
		if ret.Result != nil {
			result = fmt.Sprint(*ret.Result)
		}
		t.Errorf("qfw.applied (test %t): result %s with changes %+v", test, result, ret.Changes)
	}
	failed := ret.Result != nil && !*ret.Result
	return outcome{Changed: len(ret.Changes) > 0, Failed: failed, Msg: ret.Comment, Changes: ret.Changes}
}

func TestSalt(t *testing.T) {
	testEngine(t, salt{python: need(t, "python3")})
}

func TestSaltManagementQube(t *testing.T) {
	testManagementQube(t, salt{python: need(t, "python3")})
}

// TestPython runs the Python tests of both integrations: the Ansible
// module's documentation against its arguments (with the Python that
// runs ansible-playbook, which has Ansible's libraries), and the Salt
// state's contract on failures, with the qfw built here.
func TestPython(t *testing.T) {
	playbook := need(t, "ansible-playbook")
	python3 := need(t, "python3")
	b, err := os.ReadFile(playbook)
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	interp, ok := bytes.CutPrefix(line, []byte("#!"))
	fields := strings.Fields(string(interp))
	if !ok || len(fields) == 0 {
		t.Fatalf("%s: no #! line to find Ansible's Python by", playbook)
	}
	// ansible-doc reads the module's documentation as Ansible does, and
	// warns of what it cannot read.
	doc := exec.Command(filepath.Join(filepath.Dir(playbook), "ansible-doc"), "-t", "module", "-M", filepath.Join("ansible", "library"), "qfw")
	var stdout, stderr bytes.Buffer
	doc.Stdout, doc.Stderr = &stdout, &stderr
	if err := doc.Run(); err != nil || stderr.Len() > 0 || !bytes.Contains(stdout.Bytes(), []byte("Plans a qfw policy against the rule lists")) {
		t.Errorf("ansible-doc qfw: %v, stderr %s\nstdout %s", err, stderr.Bytes(), stdout.Bytes())
	}
	// Both test files read YAML (the module's documentation, the state's
	// example files) with PyYAML, which ansible-core brings for its own
	// Python.
	for _, python := range []string{fields[0], python3} {
		if err := exec.Command(python, "-c", "import yaml").Run(); err != nil {
			msg := fmt.Sprintf("the Python tests need PyYAML in %s (apt-get install python3-yaml): %v", python, err)
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	bin := qfw(t)
	for _, c := range []struct{ python, dir string }{{fields[0], "ansible/tests"}, {python3, "salt/tests"}} {
		cmd := exec.Command(c.python, "-m", "unittest", "discover", "-v", "-s", c.dir, "-t", c.dir)
		cmd.Env = append(os.Environ(), "QFW_TEST_QFW="+bin, "PYTHONDONTWRITEBYTECODE=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("\nOK")) {
			t.Errorf("%s -m unittest discover -s %s: %v\n%s", c.python, c.dir, err, out)
		}
	}
}
