package policy

import (
	"os"
	"path/filepath"
	"testing"

	"cuelang.org/go/cue/token"
)

// The positions a loaded policy keeps must not hold the file system CUE's
// loader read the files through: it holds the syntax of every file, which
// would stay live while the policy is compiled.
func TestLoadReleasesSyntax(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{
		"policy.cue":         "package p\n\nimport \"example.com/m/nets\"\n\nqubes: work: allow: web: {to: nets.web, tcp: [443]}\n",
		"nets/nets.cue":      "package nets\n\nweb: \"192.0.2.0/24\"\n",
		"cue.mod/module.cue": "module: \"example.com/m\"\nlanguage: version: \"v0.12.0\"\n",
		"inventory.json":     `{"qubes": {"work": {"ip": "10.137.0.11"}}}`,
	} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, errs := Load(Config{Args: []string{dir}})
	if errs != nil {
		t.Fatal(errs)
	}
	r := p.Qubes[0].Rules[0]
	for what, pos := range map[string]token.Pos{"qube": p.Qubes[0].Pos, "rule": r.Pos, "destination": r.To[0].Pos} {
		if !pos.IsValid() {
			t.Fatalf("%s has no position", what)
		}
		if pos.File().FSLoc().FS != nil {
			t.Errorf("the position of the %s, in %s, holds the file system it was loaded through", what, pos.Filename())
		}
	}
}
