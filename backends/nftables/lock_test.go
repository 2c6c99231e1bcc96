package nftables

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/internal/netnstest"
)

// TestLockSerialises holds the lock of a namespace, opened by another
// name, while an apply waits for it: the apply fails after the wait with
// nothing changed, and succeeds once the lock is free.
func TestLockSerialises(t *testing.T) {
	dir, wait := lockDir, lockWait
	t.Cleanup(func() { lockDir, lockWait = dir, wait })
	lockDir, lockWait = filepath.Join(t.TempDir(), "qfw"), 300*time.Millisecond
	ns := netnstest.New(t)
	other, err := os.Open("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	held, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- withLock(other, func() error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	table, _ := Lower(sampleClients(), sampleOptions())
	_, err = Apply(table, ns.File)
	want := regexp.MustCompile(`^another qfw has been changing this firewall for over 0.3 seconds \(it holds .*/qfw/netns-[0-9]+\.lock\); nothing was changed$`)
	if err == nil || !want.MatchString(err.Error()) {
		t.Fatalf("Apply while another holds the lock: %v; want %s", err, want)
	}
	if s, err := Read(ns.File); err != nil || s != nil {
		t.Fatalf("after a refused apply, Read = %v, %v; want no table", s, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(table, ns.File); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(lockDir)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o700 {
		t.Errorf("lock directory mode %v; want 0700", info.Mode().Perm())
	}
}

// TestLockDirectoryOpen refuses a lock directory that others may write
// to: whoever could replace the lock file could lock nothing.
func TestLockDirectoryOpen(t *testing.T) {
	dir := lockDir
	t.Cleanup(func() { lockDir = dir })
	lockDir = t.TempDir()
	if err := os.Chmod(lockDir, 0o777); err != nil {
		t.Fatal(err)
	}
	err := withLock(nil, func() error { t.Fatal("ran without the lock"); return nil })
	if want := "lock directory " + lockDir + ": not a directory of this user's that only it may write to"; err == nil || err.Error() != want {
		t.Errorf("withLock = %v; want %q", err, want)
	}
}
