package hooks_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/agent/hooks"
)

// file is one file of a test root: a script whose mode says whether it is
// executable, or a directory.
type file struct {
	path string
	body string // a directory if empty
	mode os.FileMode
}

// record is a hook that writes its name to the root's "ran" file, which
// the hooks' working directory, the root, holds.
func record(name string, rest ...string) string {
	return "#!/bin/sh\necho " + name + " >> ran\n" + strings.Join(rest, "\n") + "\n"
}

func makeRoot(t *testing.T, files []file) string {
	t.Helper()
	root := t.TempDir()
	for _, f := range files {
		p := filepath.Join(root, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if f.body == "" {
			err = os.Mkdir(p, 0o755)
		} else {
			err = os.WriteFile(p, []byte(f.body), f.mode)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// run runs the hooks under root and returns what ran, in order, and the
// log lines, with root written as <root>.
func run(t *testing.T, ctx context.Context, root string) (ran, logged []string, err error) {
	t.Helper()
	var out bytes.Buffer
	err = hooks.Run(ctx, hooks.Config{Root: root, Output: &out}, func(s string) {
		logged = append(logged, strings.ReplaceAll(s, root, "<root>"))
	})
	b, rerr := os.ReadFile(filepath.Join(root, "ran"))
	if rerr != nil && !os.IsNotExist(rerr) {
		t.Fatal(rerr)
	}
	return strings.Fields(string(b)), logged, err
}

// stock is a firewall qube with hooks of every kind in each place.
var stock = []file{
	{"etc/qubes/qubes-firewall.d/20-b", record("etc-20-b"), 0o755},
	{"etc/qubes/qubes-firewall.d/10-a", record("etc-10-a", "exit 3"), 0o755},
	{"etc/qubes/qubes-firewall.d/30-not-executable", record("etc-30"), 0o644},
	{"etc/qubes/qubes-firewall.d/40-dir", "", 0},
	{"etc/qubes/qubes-firewall.d/50-no-interpreter-line", "echo etc-50 >> ran\n", 0o755},
	{"etc/qubes/qubes-firewall.d/60-killed", record("etc-60", "kill -9 $$"), 0o755},
	{"etc/qubes/qubes-firewall.d/70-c", record("etc-70-c"), 0o700},
	{"rw/config/qubes-firewall.d/05-rw", record("rw-05"), 0o755},
	{"rw/config/qubes-firewall-user-script", record("user-script"), 0o755},
}

func TestRun(t *testing.T) {
	root := makeRoot(t, stock)
	ran, logged, err := run(t, context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"etc-10-a", "etc-20-b", "etc-60", "etc-70-c", "rw-05", "user-script"}; !slices.Equal(ran, want) {
		t.Errorf("ran %q; want %q", ran, want)
	}
	want := []string{
		"hook <root>/etc/qubes/qubes-firewall.d/10-a failed: exit status 3",
		"hook <root>/etc/qubes/qubes-firewall.d/30-not-executable: skipped: not executable",
		"hook <root>/etc/qubes/qubes-firewall.d/40-dir: skipped: not a regular file",
		"hook <root>/etc/qubes/qubes-firewall.d/50-no-interpreter-line failed: cannot start it: exec format error",
		"hook <root>/etc/qubes/qubes-firewall.d/60-killed failed: signal: killed",
	}
	if !slices.Equal(logged, want) {
		t.Errorf("logged:\n%s\nwant:\n%s", strings.Join(logged, "\n"), strings.Join(want, "\n"))
	}
}

// TestCustomPersist checks that with the custom-persist service on, the
// hooks in /rw/config do not run, and the log says so.
func TestCustomPersist(t *testing.T) {
	root := makeRoot(t, append(slices.Clone(stock), file{"var/run/qubes-service/custom-persist", "\n", 0o644}))
	ran, logged, err := run(t, context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"etc-10-a", "etc-20-b", "etc-60", "etc-70-c"}; !slices.Equal(ran, want) {
		t.Errorf("ran %q; want %q", ran, want)
	}
	if len(logged) == 0 || logged[0] != "custom-persist is on: not running /rw/config/qubes-firewall.d and /rw/config/qubes-firewall-user-script" {
		t.Errorf("logged %q; want the custom-persist line first", logged)
	}
}

// TestNone checks that a firewall qube without hooks runs nothing and
// says nothing, and that a user script alone runs.
func TestNone(t *testing.T) {
	ran, logged, err := run(t, context.Background(), makeRoot(t, nil))
	if err != nil || len(ran) != 0 || len(logged) != 0 {
		t.Errorf("empty root: ran %q, logged %q, error %v; want nothing", ran, logged, err)
	}
	root := makeRoot(t, []file{{"rw/config/qubes-firewall-user-script", record("user-script"), 0o755}})
	ran, logged, err = run(t, context.Background(), root)
	if err != nil || !slices.Equal(ran, []string{"user-script"}) || logged != nil {
		t.Errorf("user script alone: ran %q, logged %q, error %v; want it run, nothing logged", ran, logged, err)
	}
}

// TestOutput checks that the hooks' output goes to Output, and that a hook
// that leaves a process running with the output open does not hold Run up.
func TestOutput(t *testing.T) {
	root := makeRoot(t, []file{
		{"etc/qubes/qubes-firewall.d/10-say", "#!/bin/sh\necho to stdout\necho to stderr >&2\n", 0o755},
		{"etc/qubes/qubes-firewall.d/20-daemon", record("etc-20-daemon", "sleep 30 &"), 0o755},
		{"rw/config/qubes-firewall-user-script", record("user-script"), 0o755},
	})
	var out bytes.Buffer
	var logged []string
	start := time.Now()
	err := hooks.Run(context.Background(), hooks.Config{Root: root, Output: &out}, func(s string) { logged = append(logged, s) })
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Run took %v: it waited for the hook's background process", d)
	}
	if got := out.String(); got != "to stdout\nto stderr\n" {
		t.Errorf("output %q; want both lines", got)
	}
	if logged != nil {
		t.Errorf("logged %q; want nothing", logged)
	}
	b, _ := os.ReadFile(filepath.Join(root, "ran"))
	if got := string(b); got != "etc-20-daemon\nuser-script\n" {
		t.Errorf("ran %q; want the daemon hook, then the user script", got)
	}
}

// TestCancel checks that when ctx ends, the running hook is killed, no
// other starts, and Run says why it stopped.
func TestCancel(t *testing.T) {
	root := makeRoot(t, []file{
		{"etc/qubes/qubes-firewall.d/10-hang", record("etc-10-hang", "exec sleep 30"), 0o755},
		{"etc/qubes/qubes-firewall.d/20-after", record("etc-20-after"), 0o755},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	ran, _, err := run(t, ctx, root)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Run took %v after its context ended", d)
	}
	want := "hooks: " + root + "/etc/qubes/qubes-firewall.d/10-hang: context deadline exceeded"
	if err == nil || err.Error() != want {
		t.Errorf("error %v; want %s", err, want)
	}
	if !slices.Equal(ran, []string{"etc-10-hang"}) {
		t.Errorf("ran %q; want the hanging hook only", ran)
	}
}

// TestRelativeRoot checks that a root given as a relative path finds and
// runs the hooks, though they run in the root.
func TestRelativeRoot(t *testing.T) {
	root := makeRoot(t, []file{{"rw/config/qubes-firewall-user-script", record("user-script"), 0o755}})
	t.Chdir(filepath.Dir(root))
	var logged []string
	if err := hooks.Run(context.Background(), hooks.Config{Root: filepath.Base(root), Output: &bytes.Buffer{}}, func(s string) { logged = append(logged, s) }); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(root, "ran"))
	if string(b) != "user-script\n" || logged != nil {
		t.Errorf("ran %q, logged %q; want the user script run, nothing logged", b, logged)
	}
}
