package mirage

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

var (
	image     = bytes.Repeat([]byte("qubes-firewall.xen "), 1000)
	imageHash = hashOf(image)
	// tampered differs from image in one byte.
	tampered = func() []byte {
		b := slices.Clone(image)
		b[len(b)/2] ^= 1
		return b
	}()
	tamperedHash = hashOf(tampered)
)

func hashOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func TestVerifyKernel(t *testing.T) {
	tests := []struct {
		name    string
		r       io.Reader
		want    string
		got     string
		wantErr string
	}{
		{"match", bytes.NewReader(image), imageHash, imageHash, ""},
		{"uppercase", bytes.NewReader(image), strings.ToUpper(imageHash), imageHash, ""},
		{"empty image", bytes.NewReader(nil), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", ""},
		{"tampered", bytes.NewReader(tampered), imageHash, tamperedHash,
			"kernel image does not match the expected SHA-256: got " + tamperedHash + ", want " + imageHash + "; refusing the image"},
		{"no hash", bytes.NewReader(image), "", "",
			"no SHA-256 to check the kernel image against; give the hash published with the release, or one you checked yourself"},
		{"short hash", bytes.NewReader(image), imageHash[:63], "",
			`invalid SHA-256 "` + imageHash[:63] + `": want 64 hexadecimal digits`},
		{"not hex", bytes.NewReader(image), "g" + imageHash[1:], "",
			`invalid SHA-256 "g` + imageHash[1:] + `": want 64 hexadecimal digits`},
		{"read error", iotest.ErrReader(errors.New("pipe closed")), imageHash, "", "verify kernel image: pipe closed"},
	}
	for _, tt := range tests {
		got, err := VerifyKernel(tt.r, tt.want)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tt.got || gotErr != tt.wantErr {
			t.Errorf("%s: VerifyKernel = %q, %q; want %q, %q", tt.name, got, gotErr, tt.got, tt.wantErr)
		}
	}
	if _, err := VerifyKernel(bytes.NewReader(tampered), imageHash); !errors.Is(err, ErrKernelMismatch) {
		t.Errorf("VerifyKernel(tampered) = %v; want an ErrKernelMismatch", err)
	}
}

// TestReleaseHashesParse checks every published hash against VerifyKernel's
// parser: a typo in the table would refuse every image.
func TestReleaseHashesParse(t *testing.T) {
	for _, r := range Releases() {
		if r.KernelSHA256 == "" {
			continue
		}
		if _, err := VerifyKernel(bytes.NewReader(nil), r.KernelSHA256); !errors.Is(err, ErrKernelMismatch) {
			t.Errorf("%s: VerifyKernel with the release hash = %v; want a mismatch", r.Version, err)
		}
	}
}

// dirEntries returns the names in dir, or nil if dir does not exist.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestInstallKernel(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mirage-firewall")
	got, err := InstallKernel(bytes.NewReader(image), dir, imageHash)
	if err != nil || got != imageHash {
		t.Fatalf("InstallKernel = %q, %v; want %q, nil", got, err, imageHash)
	}
	if names := dirEntries(t, dir); !slices.Equal(names, []string{"vmlinuz"}) {
		t.Errorf("directory holds %q; want only vmlinuz", names)
	}
	path := filepath.Join(dir, KernelFile)
	if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, image) {
		t.Errorf("vmlinuz is not the image: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("vmlinuz mode = %v, %v; want 0644", fi.Mode(), err)
	}
	// An upgrade replaces the image.
	next := []byte("the next release")
	if _, err := InstallKernel(bytes.NewReader(next), dir, hashOf(next)); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, next) {
		t.Errorf("vmlinuz after upgrade = %q; want %q", b, next)
	}
}

// TestInstallKernelFailure checks that a failed installation leaves
// nothing behind: no vmlinuz, no temporary file, no directory it created,
// and an earlier image untouched.
func TestInstallKernelFailure(t *testing.T) {
	failures := []struct {
		name    string
		src     func() io.Reader
		want    string
		max     int64
		wantErr string
	}{
		{"tampered", func() io.Reader { return bytes.NewReader(tampered) }, imageHash, MaxKernelSize,
			"install kernel: kernel image does not match the expected SHA-256: got " + tamperedHash + ", want " + imageHash + "; refusing the image"},
		{"truncated", func() io.Reader { return bytes.NewReader(image[:100]) }, imageHash, MaxKernelSize,
			"install kernel: kernel image does not match the expected SHA-256: got " + hashOf(image[:100]) + ", want " + imageHash + "; refusing the image"},
		{"read error", func() io.Reader {
			return io.MultiReader(bytes.NewReader(image[:100]), iotest.ErrReader(errors.New("qube died")))
		}, imageHash, MaxKernelSize, "install kernel: copy image: qube died"},
		{"too large", func() io.Reader { return bytes.NewReader(image) }, imageHash, int64(len(image) - 1),
			"install kernel: image is over 18999 bytes; a unikernel image is far smaller"},
		{"no hash", func() io.Reader { return bytes.NewReader(image) }, "", MaxKernelSize,
			"no SHA-256 to check the kernel image against; give the hash published with the release, or one you checked yourself"},
	}
	for _, f := range failures {
		// Into a directory it creates: the directory goes too.
		dir := filepath.Join(t.TempDir(), "mirage-firewall")
		got, err := installKernel(f.src(), dir, f.want, f.max)
		if err == nil || err.Error() != f.wantErr {
			t.Errorf("%s: installKernel error = %v; want %s", f.name, err, f.wantErr)
		}
		if f.name == "tampered" && (got != tamperedHash || !errors.Is(err, ErrKernelMismatch)) {
			t.Errorf("%s: installKernel = %q, %v; want the image's hash and an ErrKernelMismatch", f.name, got, err)
		}
		if _, statErr := os.Stat(dir); !errors.Is(statErr, os.ErrNotExist) {
			t.Errorf("%s: directory left behind (%v), holding %q", f.name, statErr, dirEntries(t, dir))
		}

		// Over an installed image: it stays.
		if _, err := InstallKernel(bytes.NewReader(image), dir, imageHash); err != nil {
			t.Fatal(err)
		}
		if _, err := installKernel(f.src(), dir, f.want, f.max); err == nil {
			t.Errorf("%s: installKernel over an image succeeded", f.name)
		}
		if names := dirEntries(t, dir); !slices.Equal(names, []string{"vmlinuz"}) {
			t.Errorf("%s: directory holds %q; want only vmlinuz", f.name, names)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, KernelFile)); !bytes.Equal(b, image) {
			t.Errorf("%s: the installed image changed", f.name)
		}
	}
}

func TestInstallKernelDir(t *testing.T) {
	base := t.TempDir()
	// The parent must exist: only the kernel's own directory is created.
	dir := filepath.Join(base, "vm-kernels", "mirage-firewall")
	if _, err := InstallKernel(bytes.NewReader(image), dir, imageHash); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("InstallKernel without the parent directory = %v; want a not-exist error", err)
	}
	if _, err := os.Stat(filepath.Join(base, "vm-kernels")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("InstallKernel created the parent directory")
	}
	// A file where the directory should be.
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	want := "install kernel: " + file + " exists and is not a directory"
	if _, err := InstallKernel(bytes.NewReader(image), file, imageHash); err == nil || err.Error() != want {
		t.Errorf("InstallKernel into a file = %v; want %s", err, want)
	}
}

func TestCheckKernelName(t *testing.T) {
	tests := []struct {
		name, wantErr string
	}{
		{"mirage-firewall", ""},
		{"6.6.48-1.qubes.fc37.x86_64", ""},
		{"mirage_0.9.5+1", ""},
		{"", "empty kernel name"},
		{"..", `kernel name ".." starts with "."`},
		{".hidden", `kernel name ".hidden" starts with "."`},
		{"../../etc", `kernel name "../../etc" starts with "."`},
		{"a/b", `kernel name "a/b" contains "/"; allowed are letters, digits, ".", "_", "+" and "-"`},
		{"a b", `kernel name "a b" contains " "; allowed are letters, digits, ".", "_", "+" and "-"`},
	}
	for _, tt := range tests {
		gotErr := ""
		if err := CheckKernelName(tt.name); err != nil {
			gotErr = err.Error()
		}
		if gotErr != tt.wantErr {
			t.Errorf("CheckKernelName(%q) = %q; want %q", tt.name, gotErr, tt.wantErr)
		}
	}
}
