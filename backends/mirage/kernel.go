package mirage

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Where dom0 keeps the kernels qubes boot: a directory per kernel, named
// by the qube's kernel property, holding the image as vmlinuz. The
// unikernel needs nothing else there since 0.8.0.
const (
	KernelsDir = "/var/lib/qubes/vm-kernels"
	KernelFile = "vmlinuz"
)

// MaxKernelSize bounds the image InstallKernel writes. A unikernel image
// is a few megabytes; the bound is far above that, and keeps a source
// that never ends (such as a misbehaving qube piped into dom0) from
// filling dom0's disk.
const MaxKernelSize = 128 << 20

// ErrKernelMismatch is the error, wrapped, of an image whose SHA-256 is
// not the one wanted.
var ErrKernelMismatch = errors.New("kernel image does not match the expected SHA-256")

// CheckKernelName reports whether name may name a kernel (the qube's
// kernel property, a directory of KernelsDir): one path element of
// letters, digits, ".", "_", "+" and "-", not starting with ".", so that
// it can name nothing outside the kernels directory.
func CheckKernelName(name string) error {
	if name == "" {
		return errors.New("empty kernel name")
	}
	if name[0] == '.' {
		return fmt.Errorf("kernel name %q starts with \".\"", name)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isLDH(c) && c != '.' && c != '_' && c != '+' {
			return fmt.Errorf("kernel name %q contains %q; allowed are letters, digits, \".\", \"_\", \"+\" and \"-\"", name, name[i:i+1])
		}
	}
	return nil
}

// VerifyKernel reads r to its end and returns the SHA-256 of what it read
// in lowercase hexadecimal. It returns an error wrapping
// ErrKernelMismatch, showing both hashes, if that is not wantSHA256 (64
// hexadecimal digits, in either case).
func VerifyKernel(r io.Reader, wantSHA256 string) (got string, err error) {
	want, err := parseSHA256(wantSHA256)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", fmt.Errorf("verify kernel image: %w", err)
	}
	got = hex.EncodeToString(h.Sum(nil))
	if got != want {
		return got, mismatch(got, want)
	}
	return got, nil
}

// InstallKernel writes the image read from src to dir/vmlinuz if its
// SHA-256 is wantSHA256, and returns the hash. dir is the kernel's
// directory (see [CheckKernelName]); InstallKernel creates it if it is missing,
// but not its parent.
//
// The image goes to a temporary file in dir, hashed as it is written; the
// file is synced and renamed over vmlinuz only if the hash matches, so a
// reader of vmlinuz sees the old image or the whole new one, never a part,
// and never one that does not match. On any error nothing is left behind:
// the temporary file is removed, a directory InstallKernel created is
// removed, and an existing vmlinuz stays as it was. A running firewall
// qube keeps its image until it restarts.
func InstallKernel(src io.Reader, dir, wantSHA256 string) (got string, err error) {
	return installKernel(src, dir, wantSHA256, MaxKernelSize)
}

func installKernel(src io.Reader, dir, wantSHA256 string, maxSize int64) (got string, err error) {
	want, err := parseSHA256(wantSHA256)
	if err != nil {
		return "", err
	}
	created, err := makeDir(dir)
	if err != nil {
		return "", fmt.Errorf("install kernel: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+KernelFile+"-*")
	if err != nil {
		removeCreated(dir, created)
		return "", fmt.Errorf("install kernel: %w", err)
	}
	installed := false
	defer func() {
		if !installed {
			tmp.Close()
			os.Remove(tmp.Name())
			removeCreated(dir, created)
		}
	}()

	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(src, maxSize+1))
	if err != nil {
		return "", fmt.Errorf("install kernel: copy image: %w", err)
	}
	if n > maxSize {
		return "", fmt.Errorf("install kernel: image is over %d bytes; a unikernel image is far smaller", maxSize)
	}
	got = hex.EncodeToString(h.Sum(nil))
	if got != want {
		return got, fmt.Errorf("install kernel: %w", mismatch(got, want))
	}
	// dom0 reads the image as whoever starts the qube.
	if err := tmp.Chmod(0o644); err != nil {
		return got, fmt.Errorf("install kernel: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return got, fmt.Errorf("install kernel: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return got, fmt.Errorf("install kernel: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, KernelFile)); err != nil {
		return got, fmt.Errorf("install kernel: %w", err)
	}
	installed = true
	// The image is in place; syncing the directory makes the rename
	// survive a crash. A failure here no longer undoes anything.
	if err := syncDir(dir); err != nil {
		return got, fmt.Errorf("install kernel: image installed, but %w", err)
	}
	return got, nil
}

// parseSHA256 returns s, a SHA-256 in hexadecimal, in lowercase.
func parseSHA256(s string) (string, error) {
	if s == "" {
		return "", errors.New("no SHA-256 to check the kernel image against; give the hash published with the release, or one you checked yourself")
	}
	if len(s) != 2*sha256.Size || strings.Trim(strings.ToLower(s), "0123456789abcdef") != "" {
		return "", fmt.Errorf("invalid SHA-256 %q: want %d hexadecimal digits", s, 2*sha256.Size)
	}
	return strings.ToLower(s), nil
}

func mismatch(got, want string) error {
	return fmt.Errorf("%w: got %s, want %s; refusing the image", ErrKernelMismatch, got, want)
}

// makeDir creates dir, but not its parent, and reports whether it did.
func makeDir(dir string) (bool, error) {
	err := os.Mkdir(dir, 0o755)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrExist):
		if fi, statErr := os.Stat(dir); statErr != nil || !fi.IsDir() {
			return false, fmt.Errorf("%s exists and is not a directory", dir)
		}
		return false, nil
	}
	return false, err
}

// removeCreated removes dir if this installation created it.
func removeCreated(dir string, created bool) {
	if created {
		os.Remove(dir)
	}
}

// syncDir flushes dir's entries to disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
