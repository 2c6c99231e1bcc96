package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestWrite replaces a file and leaves nothing else in its directory,
// with the mode asked for, not CreateTemp's.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "status.json")
	if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, perm := range []fs.FileMode{0o644, 0o600} {
		want := "new " + perm.String() + "\n"
		if err := Write(path, []byte(want), perm); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != want {
			t.Errorf("Write(%v) wrote %q; want %q", perm, b, want)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != perm {
			t.Errorf("Write(%v) made the file %v", perm, fi.Mode().Perm())
		}
	}
	if names, _ := filepath.Glob(filepath.Join(dir, "*")); len(names) != 1 {
		t.Errorf("directory holds %q; want only the file", names)
	}
}

// TestWriteFails leaves the old file and no temporary file when the
// rename cannot be done: here path is a directory that is not empty.
func TestWriteFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out")
	if err := os.MkdirAll(filepath.Join(path, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("x"), 0o644); err == nil {
		t.Fatal("Write over a directory that is not empty: no error")
	}
	if names, _ := filepath.Glob(filepath.Join(dir, ".*")); len(names) != 0 {
		t.Errorf("temporary files left: %q", names)
	}
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		t.Errorf("path after the failed Write: %v, %v; want the directory as it was", fi, err)
	}
}
