package agent

import (
	"syscall"
	"testing"
	"time"
)

// TestHangupReloads sends the process SIGHUP, which must become a reload.
func TestHangupReloads(t *testing.T) {
	reload, stop := hangupReloads()
	defer stop()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reload:
	case <-time.After(10 * time.Second):
		t.Fatal("no reload after SIGHUP")
	}
}
