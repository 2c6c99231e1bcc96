package source

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

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
