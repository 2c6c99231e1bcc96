package policy

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// cueFilesBelow finds CUE files at any depth, through symbolic links to
// directories, once each however the links loop.
func TestCUEFilesBelow(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"sub/a.cue", "sub/notes.txt", "sub/deep/deeper/b.cue", "outside/c.cue"} {
		path := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("package p\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"sub/deep/loop":    "..",          // back up: walked once
		"sub/ext":          "../outside",  // out of the directory: walked
		"sub/dangling.cue": "nowhere.cue", // a file that cannot be read: listed, to be refused
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	got := cueFilesBelow(filepath.Join(root, "sub"))
	for i, f := range got {
		got[i], _ = filepath.Rel(root, f)
	}
	want := []string{"sub/a.cue", "sub/dangling.cue", "sub/deep/deeper/b.cue", "sub/ext/c.cue"}
	if !slices.Equal(got, want) {
		t.Errorf("cueFilesBelow = %q, want %q", got, want)
	}
}
