package systemd_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const dropIn = "qubes-firewall.service.d/50-qfw.conf"

// needVerify returns the path of systemd-analyze and systemd's version;
// it skips the test without it, or fails it in CI (CI set), where the
// units must be checked.
func needVerify(t *testing.T) (string, int) {
	t.Helper()
	path, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the unit tests need systemd-analyze")
		}
		t.Skip("the unit tests need systemd-analyze")
	}
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		t.Fatalf("systemd-analyze --version: %v", err)
	}
	m := regexp.MustCompile(`^systemd (\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze --version says %q; want systemd N", out)
	}
	v, _ := strconv.Atoi(string(m[1]))
	return path, v
}

// makeRoot lays out a file system root as a firewall qube's: the stock
// unit with qfw's drop-in beside it in /etc/systemd/system, the targets
// every service depends on, and, with qfw, an executable /usr/bin/qfw,
// which verify looks for under the root. The stock agent's
// /usr/sbin/qubes-firewall is left out: verify complains of it unless the
// drop-in clears the stock ExecStart.
func makeRoot(t *testing.T, dropInText []byte, qfw bool) string {
	t.Helper()
	root := t.TempDir()
	stock, err := os.ReadFile("testdata/qubes-firewall.service")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"etc/systemd/system/qubes-firewall.service": stock,
		"etc/systemd/system/" + dropIn:              dropInText,
	}
	for _, target := range []string{"sysinit", "basic", "shutdown", "multi-user"} {
		files["usr/lib/systemd/system/"+target+".target"] = []byte("[Unit]\nDescription=" + target + "\nDefaultDependencies=no\n")
	}
	if qfw {
		files["usr/bin/qfw"] = []byte("#!/bin/sh\nexit 0\n")
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(name, "usr/bin/") {
			mode = 0o755
		}
		if err := os.WriteFile(p, body, mode); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// verify runs systemd-analyze verify on the service under root and returns
// what it printed, with root written as <root>, and whether it succeeded.
func verify(t *testing.T, analyze, root string) ([]string, bool) {
	t.Helper()
	cmd := exec.Command(analyze, "verify", "--root="+root, "--man=no", "qubes-firewall.service")
	// Only the root's units: no unit path from the environment.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SYSTEMD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("systemd-analyze verify: %v", err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			lines = append(lines, strings.ReplaceAll(l, root, "<root>"))
		}
	}
	return lines, err == nil
}

// TestVerify checks the drop-in on top of the stock unit with systemd's
// own checker: it must load without a warning. verify's exit status alone
// says too little, as it ignores an unknown key or a value it cannot
// parse; what it prints is the finding.
func TestVerify(t *testing.T) {
	analyze, version := needVerify(t)
	text, err := os.ReadFile(dropIn)
	if err != nil {
		t.Fatal(err)
	}
	lines, ok := verify(t, analyze, makeRoot(t, text, true))
	if version < 253 {
		// notify-reload came in systemd 253; before, systemd ignores the
		// setting (of the stock unit too), and the service keeps the
		// stock unit's type, or simple; verify says so, and nothing else
		// is allowed.
		lines = slices.DeleteFunc(lines, func(l string) bool {
			return strings.HasSuffix(l, ": Failed to parse service type, ignoring: notify-reload")
		})
	}
	if !ok || len(lines) > 0 {
		t.Errorf("systemd-analyze verify (systemd %d), exit status ok %v:\n%s", version, ok, strings.Join(lines, "\n"))
	}
}

// TestVerifyFinds checks that the test above would catch what it is for:
// verify reads the drop-in from beside the unit, and checks the command it
// gives, and the stock command's clearing.
func TestVerifyFinds(t *testing.T) {
	analyze, _ := needVerify(t)
	text, err := os.ReadFile(dropIn)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		dropIn []byte
		qfw    bool
		want   string
	}{
		{"no qfw", text, false, "qubes-firewall.service: Command /usr/bin/qfw is not executable: No such file or directory"},
		{"stock command not cleared", bytes.Replace(text, []byte("ExecStart=\n"), nil, 1), true,
			"qubes-firewall.service: Service has more than one ExecStart= setting, which is only allowed for Type=oneshot services. Refusing."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines, ok := verify(t, analyze, makeRoot(t, tc.dropIn, tc.qfw))
			if ok || !slices.Contains(lines, tc.want) {
				t.Errorf("verify succeeded %v, printed:\n%s\nwant it to fail with %q", ok, strings.Join(lines, "\n"), tc.want)
			}
		})
	}
}

// TestDropInKeeps checks that the drop-in sets only what it must, leaving
// the stock unit's condition, ordering, restart policy and install section
// in force, and clears the stock command before giving qfw's.
func TestDropInKeeps(t *testing.T) {
	f, err := os.Open(dropIn)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || l[0] == '#' || l[0] == ';':
		case l[0] == '[':
			section = l
		default:
			got = append(got, section+" "+l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"[Unit] Description=Qubes firewall updater (qfw agent)",
		"[Service] Type=notify-reload",
		"[Service] ExecStart=",
		"[Service] ExecStart=/usr/bin/qfw agent",
	}
	if !slices.Equal(got, want) {
		t.Errorf("the drop-in sets:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
