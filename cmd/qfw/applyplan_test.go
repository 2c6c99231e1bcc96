package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/backends/qubes/adminapi/adminapitest"
	"github.com/qfw-dev/qfw/deploy"
)

// applySetup is a policy of two qubes, work and dev, and an in-process
// qubesd that holds them, a qube qfw managed before (old, tagged
// qfw-managed) and one no policy names (personal).
type applySetup struct {
	srv       *adminapitest.Server
	dir, data string
	lock      string
}

var applySetupQubes = map[string]adminapitest.Qube{
	"sys-firewall": {IP: "10.137.0.6", Netvm: "sys-net", ProvidesNetwork: true},
	"sys-net":      {IP: "10.137.0.5", ProvidesNetwork: true},
	"work":         {IP: "10.137.0.11", Netvm: "sys-firewall", Firewall: []string{"action=accept"}},
	"dev":          {IP: "10.137.0.12", Netvm: "sys-firewall", Firewall: []string{"action=accept dst4=10.0.0.1/8", "action=drop"}},
	"old":          {IP: "10.137.0.13", Netvm: "sys-firewall", Firewall: []string{"action=accept proto=tcp dstports=22-22"}, Tags: []string{"qfw-managed"}},
	"personal":     {IP: "10.137.0.14", Netvm: "sys-firewall", Firewall: []string{"action=accept"}},
}

// workDevPolicy is the policy of applySetup and TestApplyQubes: work
// reaches the web, dev one git server.
const workDevPolicy = `package policy

qubes: work: allow: web: {to: "any", tcp: [443]}
qubes: dev: allow: git: {to: "192.0.2.0/24", tcp: [22]}
`

func newApplySetup(t *testing.T) *applySetup {
	t.Helper()
	s := &applySetup{srv: adminapitest.New(t, applySetupQubes), dir: t.TempDir()}
	s.data, s.lock = filepath.Join(s.dir, "data"), filepath.Join(s.dir, "apply.lock")
	writeTestFiles(t, s.dir, map[string]string{
		"policy.cue":     workDevPolicy,
		"inventory.json": inventoryOf(applySetupQubes),
	})
	return s
}

func (s *applySetup) run(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	args = append([]string{args[0], "--socket", s.srv.Path, "--data-dir", s.data}, args[1:]...)
	if args[0] == "apply" {
		args = append(args, "--lock", s.lock)
	}
	code = runIn(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// writes returns the calls that change something, in order.
func (s *applySetup) writes() []string {
	var out []string
	for _, r := range s.srv.Requests() {
		if !strings.HasSuffix(r.Method, ".Get") && !strings.HasSuffix(r.Method, ".List") {
			out = append(out, r.Method+" "+r.Dest+" "+r.Arg)
		}
	}
	return out
}

// lists returns every qube's list and tags, to compare before and after.
func (s *applySetup) lists() map[string]string {
	out := map[string]string{}
	for name := range applySetupQubes {
		q, _ := s.srv.Qube(name)
		out[name] = strings.Join(q.Firewall, "\n") + "\ntags: " + strings.Join(q.Tags, " ")
	}
	return out
}

// TestApplyMarksAndLeaves follows qubes in and out of the policy: apply
// tags each qube it sets qfw-managed, before the Set; plan shows a tagged
// qube the policy no longer names, and the networked qubes it does not
// manage; apply keeps such a qube's list, with a warning, until --release
// removes its tag.
func TestApplyMarksAndLeaves(t *testing.T) {
	s := newApplySetup(t)
	code, stdout, stderr := s.run("plan", s.dir, "--detailed-exitcode")
	if code != exitChanges {
		t.Fatalf("plan: exit %d: %s", code, stderr)
	}
	const wantPlan = `dev:
  - action=accept dst4=10.0.0.1/8                                         # qfw would not write this line: prefix "10.0.0.1/8" has host bits set; write "10.0.0.0/8"
  - action=drop
  + action=accept dst4=192.0.2.0/24 proto=tcp dstports=22-22 comment=git  # allow.git

work:
  - action=accept
  + action=accept proto=tcp dstports=443-443 comment=web  # allow.web

old: left the policy; qfw set its list and keeps it as it is. To stop managing it: qfw apply --release old

To tag qfw-managed: dev, work.

Plan: 2 qubes to change, 0 unchanged; 2 rules to add, 3 to remove; 2 qubes to tag qfw-managed; 1 qube left the policy, its list kept.
Not managed by the policy: 1 networked qube (personal).
`
	if stdout != wantPlan {
		t.Errorf("plan:\n%s\nwant:\n%s", stdout, wantPlan)
	}

	code, stdout, stderr = s.run("apply", s.dir, "--auto-approve")
	if code != exitOK {
		t.Fatalf("apply: exit %d: %s", code, stderr)
	}
	if !strings.HasSuffix(stdout, "QUBE  RESULT\ndev   applied (+1 -2)\nwork  applied (+1 -1)\n") {
		t.Errorf("apply: the table:\n%s", stdout)
	}
	if want := "qfw: warning: old left the policy; apply keeps its list as it is (--release old stops managing it, --reset old blocks its traffic)\n"; stderr != want {
		t.Errorf("apply: stderr %q; want %q", stderr, want)
	}
	wantWrites := []string{
		"admin.vm.tag.Set dev qfw-managed", "admin.vm.firewall.Set dev ",
		"admin.vm.tag.Set work qfw-managed", "admin.vm.firewall.Set work ",
	}
	if got := s.writes(); !slices.Equal(got, wantWrites) {
		t.Errorf("apply wrote %q; want %q", got, wantWrites)
	}
	if old, _ := s.srv.Qube("old"); !slices.Equal(old.Firewall, applySetupQubes["old"].Firewall) || !slices.Equal(old.Tags, []string{"qfw-managed"}) {
		t.Errorf("apply changed old, which left the policy: %q, tags %q", old.Firewall, old.Tags)
	}

	// Still a plan to review: old waits for a decision.
	if code, stdout, _ = s.run("plan", s.dir, "--detailed-exitcode"); code != exitChanges || !strings.HasSuffix(stdout, "No changes: 2 qubes match the policy; 1 qube left the policy, its list kept.\nNot managed by the policy: 1 networked qube (personal).\n") {
		t.Errorf("plan after apply: exit %d:\n%s", code, stdout)
	}

	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--release", "work"}, "qfw: --release work: the policy manages work; take it out of the policy first\n"},
		{[]string{"--reset", "personal"}, "qfw: --reset personal: not a qube that left the policy; qfw plan lists those\n"},
		{[]string{"--release", "old", "--reset", "old"}, "qfw: --reset old: old is given twice to --release and --reset\n"},
	} {
		n := len(s.writes())
		code, _, stderr = s.run(append([]string{"apply", s.dir, "--auto-approve"}, tc.args...)...)
		if code != exitError || stderr != tc.err || len(s.writes()) != n {
			t.Errorf("apply %q: exit %d, stderr %q, %d writes; want exit 1, %q, none", tc.args, code, stderr, len(s.writes())-n, tc.err)
		}
	}

	code, stdout, stderr = s.run("apply", s.dir, "--auto-approve", "--release", "old")
	if code != exitOK || stderr != "" || !strings.HasSuffix(stdout, "QUBE  RESULT\nold   released, list kept\n") {
		t.Errorf("apply --release old: exit %d, stderr %q:\n%s", code, stderr, stdout)
	}
	if old, _ := s.srv.Qube("old"); !slices.Equal(old.Firewall, applySetupQubes["old"].Firewall) || len(old.Tags) != 0 {
		t.Errorf("after --release old holds %q, tags %q; want its list, no tag", old.Firewall, old.Tags)
	}
	if code, stdout, _ = s.run("plan", s.dir, "--detailed-exitcode"); code != exitOK || !strings.HasSuffix(stdout, "No changes: 2 qubes match the policy.\nNot managed by the policy: 2 networked qubes (old, personal).\n") {
		t.Errorf("plan after the release: exit %d:\n%s", code, stdout)
	}
}

// TestApplySavedPlanRefused applies saved plans that were edited: each is
// refused whole, before anything is sent, naming the field that is wrong.
func TestApplySavedPlanRefused(t *testing.T) {
	s := newApplySetup(t)
	saved := filepath.Join(s.dir, "plan.json")
	if code, _, stderr := s.run("plan", s.dir, "--out", saved); code != exitOK {
		t.Fatalf("plan --out: exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(saved)
	if err != nil {
		t.Fatal(err)
	}
	// dev is qubes[0], work qubes[1].
	for _, tc := range []struct {
		name string
		edit func(p *deploy.Plan)
		err  string
	}{
		{"host bits", func(p *deploy.Plan) {
			p.Qubes[0].Rules[0] = "action=accept dst4=192.0.2.1/24 proto=tcp dstports=22-22 comment=git"
			p.Qubes[0].Edits[2].Line = p.Qubes[0].Rules[0]
		}, `qubes[0].rules[0]: prefix "192.0.2.1/24" has host bits set; write "192.0.2.0/24"`},
		{"unknown option", func(p *deploy.Plan) {
			p.Qubes[1].Rules[0] = "action=accept proto=tcp dstports=443-443 dpi=1"
		}, `qubes[1].rules[0]: unknown firewall option "dpi"`},
		{"sends what it does not show", func(p *deploy.Plan) {
			p.Qubes[1].Rules[0] = "action=accept"
		}, `qubes[1].edits[1].line: "action=accept proto=tcp dstports=443-443 comment=web" is shown, but rules[0], which the plan sends in its place, is "action=accept"`},
		{"no such qube", func(p *deploy.Plan) { p.Qubes[1].Name = "ghost" }, `qubes[1].name: dom0 has no qube "ghost"`},
		{"edits not the live diff", func(p *deploy.Plan) {
			p.Qubes[1].Edits[0].Line = "action=drop"
		}, "qubes[1].edits: not the edits from work's list, which still hashes to base_hash, to the plan's rules; the plan would make other changes than it shows"},
		{"bad hash", func(p *deploy.Plan) { p.Qubes[0].BaseHash = "abc" }, `qubes[0].base_hash: "abc" is not a SHA-256 hash in 64 lowercase hex digits`},
		{"another netvm", func(p *deploy.Plan) { p.Qubes[1].Netvm = "sys-net" }, `qubes[1].netvm: "sys-net", but the netvm of work is "sys-firewall"; plan again`},
		{"left qube in the plan too", func(p *deploy.Plan) { p.Left = append(p.Left, "work") }, `left[1]: qube "work" is planned in qubes too`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p deploy.Plan
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatal(err)
			}
			tc.edit(&p)
			p.Summary = p.Summarise()
			out, err := deploy.MarshalPlan(&p)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "plan.json")
			if err := os.WriteFile(file, out, 0o644); err != nil {
				t.Fatal(err)
			}
			before, n := s.lists(), len(s.writes())
			code, _, stderr := s.run("apply", "--plan", file, "--auto-approve")
			if code != exitError || !strings.Contains(stderr, tc.err) {
				t.Errorf("apply --plan: exit %d, stderr %q; want exit 1 and %q", code, stderr, tc.err)
			}
			if got := s.writes()[n:]; len(got) > 0 {
				t.Errorf("a refused plan sent %q", got)
			}
			for name, l := range s.lists() {
				if before[name] != l {
					t.Errorf("a refused plan changed %s: %q, was %q", name, l, before[name])
				}
			}
		})
	}

	// The plan as saved applies, and sends the rules it shows.
	if code, _, stderr := s.run("apply", "--plan", saved, "--auto-approve"); code != exitOK {
		t.Fatalf("apply --plan as saved: exit %d: %s", code, stderr)
	}
	if got, want := s.srv.Firewall("work"), []string{"action=accept proto=tcp dstports=443-443 comment=web"}; !slices.Equal(got, want) {
		t.Errorf("after the saved plan work holds %q; want %q", got, want)
	}
}

// TestApplyReset blocks the traffic of a qube that left the policy, and
// stops managing it: --reset sets its list to action=drop, then removes
// its tag.
func TestApplyReset(t *testing.T) {
	s := newApplySetup(t)
	code, stdout, stderr := s.run("apply", s.dir, "--auto-approve", "--reset", "old")
	if code != exitOK || stderr != "" {
		t.Fatalf("apply --reset old: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "old: --reset: its list becomes \"action=drop\", which blocks all its traffic, and its tag qfw-managed goes.\n") || !strings.Contains(stdout, "old   reset, released\n") {
		t.Errorf("apply --reset old:\n%s", stdout)
	}
	old, _ := s.srv.Qube("old")
	if !slices.Equal(old.Firewall, []string{"action=drop"}) || len(old.Tags) != 0 {
		t.Errorf("after --reset old holds %q, tags %q; want action=drop, no tag", old.Firewall, old.Tags)
	}
	want := []string{"admin.vm.firewall.Set old ", "admin.vm.tag.Remove old qfw-managed"}
	if got := s.writes(); len(got) < 2 || !slices.Equal(got[:2], want) {
		t.Errorf("apply --reset wrote %q; want it to start with %q", got, want)
	}
}

// TestApplyTagsUnchanged tags a managed qube whose list already matches
// the policy, as after qfw import: without the tag, its leaving the
// policy later would go unseen.
func TestApplyTagsUnchanged(t *testing.T) {
	qs := map[string]adminapitest.Qube{
		"sys-firewall": {IP: "10.137.0.6", Netvm: "sys-net", ProvidesNetwork: true},
		"sys-net":      {IP: "10.137.0.5", ProvidesNetwork: true},
		"work":         {IP: "10.137.0.11", Netvm: "sys-firewall", Firewall: []string{"action=accept proto=tcp dstports=443-443 comment=web"}},
	}
	srv := adminapitest.New(t, qs)
	dir := t.TempDir()
	writeTestFiles(t, dir, map[string]string{
		"policy.cue":     "package policy\n\nqubes: work: allow: web: {to: \"any\", tcp: [443]}\n",
		"inventory.json": inventoryOf(qs),
	})
	s := &applySetup{srv: srv, dir: dir, data: filepath.Join(dir, "data"), lock: filepath.Join(dir, "lock")}
	code, stdout, _ := s.run("plan", dir, "--detailed-exitcode")
	if want := "To tag qfw-managed: work.\n\nUnchanged: work.\n\nPlan: 1 qube to tag qfw-managed; 1 qube unchanged.\n"; code != exitChanges || stdout != want {
		t.Errorf("plan: exit %d:\n%s\nwant exit 2:\n%s", code, stdout, want)
	}
	code, stdout, stderr := s.run("apply", dir, "--auto-approve")
	if code != exitOK || !strings.HasSuffix(stdout, "QUBE  RESULT\nwork  tagged qfw-managed\n") {
		t.Errorf("apply: exit %d, stderr %q:\n%s", code, stderr, stdout)
	}
	if got, want := s.writes(), []string{"admin.vm.tag.Set work qfw-managed"}; !slices.Equal(got, want) {
		t.Errorf("apply wrote %q; want %q", got, want)
	}
	if code, stdout, _ = s.run("plan", dir, "--detailed-exitcode"); code != exitOK || stdout != "Unchanged: work.\n\nNo changes: 1 qube matches the policy.\n" {
		t.Errorf("plan after apply: exit %d:\n%s", code, stdout)
	}
}

// TestApplyResetReverted: a --reset that is not confirmed gives the qube
// back its list and its tag qfw-managed, so that plan still shows it as
// a qube that left the policy, not a list no one manages.
func TestApplyResetReverted(t *testing.T) {
	s := newApplySetup(t)
	before, _ := s.srv.Qube("old")
	code, _, stderr := s.run("apply", s.dir, "--auto-approve", "--reset", "old", "--confirm-timeout", "200ms")
	if code != exitError || !strings.Contains(stderr, "not confirmed within 200ms; 3 qubes reverted") {
		t.Fatalf("apply --reset old, unconfirmed: exit %d: %s", code, stderr)
	}
	old, _ := s.srv.Qube("old")
	if !slices.Equal(old.Firewall, before.Firewall) || !slices.Equal(old.Tags, []string{deploy.ManagedTag}) {
		t.Errorf("after the revert old holds %q, tags %q; want %q, tagged %s", old.Firewall, old.Tags, before.Firewall, deploy.ManagedTag)
	}
	if code, stdout, _ := s.run("plan", s.dir); code != exitOK || !strings.Contains(stdout, "old: left the policy;") {
		t.Errorf("plan after the revert: exit %d:\n%s", code, stdout)
	}
}

// TestApplyFailsEachCall refuses each call of an apply in turn, as dom0's
// qrexec policy may: whichever fails, every qube holds its previous list
// or its new one, a list qfw set is never left untagged, the qube --reset
// names holds its list or action=drop, and the apply says what failed.
func TestApplyFailsEachCall(t *testing.T) {
	s := newApplySetup(t)
	before := s.lists()
	if code, _, stderr := s.run("apply", s.dir, "--auto-approve", "--reset", "old"); code != exitOK {
		t.Fatalf("apply: exit %d: %s", code, stderr)
	}
	after, calls := s.lists(), len(s.srv.Requests())
	for n := 1; n <= calls; n++ {
		s := newApplySetup(t)
		s.srv.FailCall(n)
		code, _, stderr := s.run("apply", s.dir, "--auto-approve", "--reset", "old")
		got := s.lists()
		failed := s.srv.Requests()[n-1]
		call := fmt.Sprintf("call %d (%s %s)", n, failed.Method, failed.Dest)
		if code != exitError && (got["work"] != after["work"] || got["dev"] != after["dev"] || got["old"] != after["old"]) {
			t.Errorf("%s refused: exit %d, and not all done: %q", call, code, got)
		}
		if !strings.Contains(stderr, "qfw: ") {
			t.Errorf("%s refused: exit %d, and nothing said", call, code)
		}
		for name, list := range got {
			rules, tags, _ := strings.Cut(list, "\ntags: ")
			was, _, _ := strings.Cut(before[name], "\ntags: ")
			switch {
			case list == before[name] || list == after[name]:
			case rules == was && tags == deploy.ManagedTag:
				// Tagged before its Set, which failed.
			case name == "old" && rules == "action=drop":
				// Reset, tagged or not.
			default:
				t.Errorf("%s refused: %s holds %q; want %q or %q", call, name, list, before[name], after[name])
			}
		}
		if t.Failed() {
			t.Logf("stderr: %s", stderr)
			break
		}
	}
}

// TestApplyReleaseNotManaged applies a saved plan that says personal,
// which dom0 does not tag qfw-managed, left the policy: neither --release
// nor --reset touches it.
func TestApplyReleaseNotManaged(t *testing.T) {
	for _, flag := range []string{"--release", "--reset"} {
		s := newApplySetup(t)
		saved := filepath.Join(s.dir, "plan.json")
		if code, _, stderr := s.run("plan", s.dir, "--out", saved); code != exitOK {
			t.Fatalf("plan --out: exit %d: %s", code, stderr)
		}
		var p deploy.Plan
		if err := json.Unmarshal([]byte(readFile(t, saved)), &p); err != nil {
			t.Fatal(err)
		}
		p.Left, p.Unmanaged = []string{"personal"}, nil
		p.Summary = p.Summarise()
		b, err := deploy.MarshalPlan(&p)
		if err != nil {
			t.Fatal(err)
		}
		writeTestFiles(t, s.dir, map[string]string{"plan.json": string(b)})
		code, stdout, stderr := s.run("apply", "--plan", saved, "--auto-approve", flag, "personal")
		if want := "qfw: personal: not tagged qfw-managed: qfw does not manage it\n"; code != exitError || stderr != want {
			t.Errorf("apply %s personal: exit %d, stderr %q; want exit 1, %q", flag, code, stderr, want)
		}
		if !strings.Contains(stdout, "personal  not managed, unchanged\n") {
			t.Errorf("apply %s personal: the table:\n%s", flag, stdout)
		}
		for _, w := range s.writes() {
			if strings.Contains(w, " personal ") {
				t.Errorf("apply %s personal wrote %q", flag, w)
			}
		}
	}
}
