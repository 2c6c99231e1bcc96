package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestScripts checks the packages' scripts with sh: both parse, and the
// Salt sync calls qubesctl as the Qubes packages of Salt states do, and
// never fails the package's installation, with qubesctl failing or
// missing.
func TestScripts(t *testing.T) {
	root, err := moduleRoot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{reloadScript, saltSyncScript} {
		command(t, "", "sh", "-n", filepath.Join(root, s))
	}

	bin := t.TempDir()
	calls := filepath.Join(t.TempDir(), "calls")
	write(t, filepath.Join(bin, "qubesctl"), "#!/bin/sh\necho \"$@\" >>"+calls+"\nexit 1\n")
	if err := os.Chmod(filepath.Join(bin, "qubesctl"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{bin + ":/usr/bin:/bin", "/usr/bin:/bin"} {
		cmd := exec.Command("sh", filepath.Join(root, saltSyncScript))
		cmd.Env = []string{"PATH=" + path}
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("PATH=%s %s: %v, output %q; want success and no output", path, saltSyncScript, err, out)
		}
	}
	got, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	want := "saltutil.clear_cache -l quiet --out quiet\nsaltutil.sync_all refresh=true -l quiet --out quiet\n"
	if string(got) != want {
		t.Errorf("qubesctl calls:\n%s\nwant:\n%s", got, want)
	}
}
