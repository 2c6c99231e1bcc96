package source

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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

// TestExtractTar checks what extractTar makes of each kind of entry: the
// files and directories of a tree, with their content, and an exact error
// for a name outside the directory, a link or a name given twice. The
// fuzz test above checks only what it must never write.
func TestExtractTar(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers []tar.Header
		files   []string
		err     string
	}{
		{"file", []tar.Header{{Name: "policy.cue", Typeflag: tar.TypeReg, Mode: 0o644}}, []string{"policy.cue"}, ""},
		{"tree", []tar.Header{
			{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "11c905619c1090e398f81c57b7348811f7cd1eed"}},
			{Name: "sub/", Typeflag: tar.TypeDir, Mode: 0o755},
			{Name: "sub/a.cue", Typeflag: tar.TypeReg, Mode: 0o644},
			{Name: "b/c.cue", Typeflag: tar.TypeReg, Mode: 0o644},
		}, []string{"b/c.cue", "sub/a.cue"}, ""},
		{"parent", []tar.Header{{Name: "../evil.cue", Typeflag: tar.TypeReg, Mode: 0o644}}, nil, "../evil.cue: a name outside the directory"},
		{"absolute", []tar.Header{{Name: "/etc/evil.cue", Typeflag: tar.TypeReg, Mode: 0o644}}, nil, "/etc/evil.cue: a name outside the directory"},
		{"link", []tar.Header{{Name: "link.cue", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}}, nil, "link.cue is a symbolic link, which qfw does not follow in a revision"},
		{"fifo", []tar.Header{{Name: "pipe", Typeflag: tar.TypeFifo}}, nil, "pipe is neither a file nor a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			err := extractTar(bytes.NewReader(tarOf(t, tc.headers...)), dir)
			if got := fmt.Sprint(err); err != nil && got != tc.err || err == nil && tc.err != "" {
				t.Fatalf("extractTar: %v; want %q", err, tc.err)
			}
			var files []string
			filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					t.Fatal(err)
				}
				if d.Type().IsRegular() {
					b, err := os.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					if string(b) != "package policy\n" {
						t.Errorf("%s holds %q; want the archive's content", path, b)
					}
					rel, _ := filepath.Rel(dir, path)
					files = append(files, filepath.ToSlash(rel))
				}
				return nil
			})
			if !slices.Equal(files, tc.files) {
				t.Errorf("extracted %q; want %q", files, tc.files)
			}
		})
	}
}
