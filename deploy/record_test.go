package deploy

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDefaultDirsRelative ignores a relative $XDG_STATE_HOME and
// $XDG_RUNTIME_DIR, as the XDG specification says: the record and the
// lock would follow the working directory, and two applies run from two
// directories would neither see each other's record nor exclude each
// other.
func TestDefaultDirsRelative(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_STATE_HOME", "state")
	if got, want := dataDir(""), filepath.Join(home, ".local", "state", "qfw"); got != want {
		t.Errorf("data directory with XDG_STATE_HOME=state: %s; want %s", got, want)
	}
	t.Setenv("XDG_STATE_HOME", "/var/state")
	if got, want := dataDir(""), "/var/state/qfw"; got != want {
		t.Errorf("data directory with XDG_STATE_HOME=/var/state: %s; want %s", got, want)
	}
	t.Chdir(t.TempDir())
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	t.Setenv("XDG_RUNTIME_DIR", ".")
	unlock, err := LockApply("")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(tmp, "qfw-apply.lock")); err != nil {
		t.Errorf("the lock was not taken in $TMPDIR: %v", err)
	}
}
