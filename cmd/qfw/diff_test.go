package main

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

const diffInventory = `{"qubes": {
	"work": {"ip": "10.137.0.11", "netvm": "sys-firewall"},
	"sys-firewall": {"ip": "10.137.0.6", "netvm": "sys-net", "provides_network": true},
	"sys-net": {"ip": "10.137.0.5", "provides_network": true}
}}`

// writePolicy writes a policy directory with the given policy.cue.
func writePolicy(t *testing.T, policy string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range map[string]string{"policy.cue": policy, "inventory.json": diffInventory} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestDiffExitCode checks diff's exit codes: 0 for no change in
// reachability, even where every rule line changes, 2 for changes, 1 for
// errors.
func TestDiffExitCode(t *testing.T) {
	web := writePolicy(t, "package policy\nqubes: work: allow: web: {to: \"any\", tcp: [80, 443]}\n")
	split := writePolicy(t, "package policy\nqubes: work: {\n\tallow: https: {to: [\"0.0.0.0/1\", \"128.0.0.0/1\"], tcp: [443]}\n\tallow: http: {to: \"any\", tcp: [80]}\n}\n")
	https := writePolicy(t, "package policy\nqubes: work: allow: web: {to: \"any\", tcp: [443]}\n")
	broken := writePolicy(t, "package policy\nqubes: work: allow: web: {to: \"any\", tcp: \"all\"}\n")
	for _, tt := range []struct {
		name       string
		base, head string
		want       int
	}{
		{"same", web, web, exitOK},
		{"rewritten", web, split, exitOK},
		{"narrowed", web, https, exitChanges},
		{"widened", https, web, exitChanges},
		{"broken head", web, broken, exitError},
		{"no such base", filepath.Join(web, "nowhere"), web, exitError},
	} {
		var stdout, stderr bytes.Buffer
		if got := run([]string{"diff", tt.base, tt.head}, &stdout, &stderr); got != tt.want {
			t.Errorf("%s: exit code %d; want %d\nstdout:\n%s\nstderr:\n%s", tt.name, got, tt.want, &stdout, &stderr)
		}
	}
}

// tarOf returns a tar stream of the given headers, each with body as its
// content if it is a regular file.
func tarOf(t testing.TB, headers ...tar.Header) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range headers {
		body := []byte("package policy\n")
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(body)
		}
	}
	tw.Close()
	return buf.Bytes()
}

// FuzzExtractTar checks that whatever git archive's stream holds, what
// extractTar writes stays inside its directory and is files and
// directories only.
func FuzzExtractTar(f *testing.F) {
	f.Add(tarOf(f, tar.Header{Name: "policy.cue", Typeflag: tar.TypeReg, Mode: 0o644}))
	f.Add(tarOf(f, tar.Header{Name: "sub/", Typeflag: tar.TypeDir, Mode: 0o755}, tar.Header{Name: "sub/a.cue", Typeflag: tar.TypeReg, Mode: 0o644}))
	f.Add(tarOf(f, tar.Header{Name: "../evil.cue", Typeflag: tar.TypeReg, Mode: 0o644}))
	f.Add(tarOf(f, tar.Header{Name: "/etc/evil.cue", Typeflag: tar.TypeReg, Mode: 0o644}))
	f.Add(tarOf(f, tar.Header{Name: "link.cue", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}))
	f.Add(tarOf(f, tar.Header{Name: "a.cue", Typeflag: tar.TypeReg}, tar.Header{Name: "a.cue", Typeflag: tar.TypeReg}))
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "tree")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		extractTar(bytes.NewReader(data), dir)
		entries, err := os.ReadDir(parent)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Name() != "tree" {
			t.Fatalf("extractTar wrote beside its directory: %v", entries)
		}
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			if !d.Type().IsRegular() && !d.IsDir() {
				t.Fatalf("extractTar wrote %s, of type %v", path, d.Type())
			}
			return nil
		})
	})
}
