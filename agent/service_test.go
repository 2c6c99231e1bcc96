package agent

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
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

// TestServeRefuses checks that a service that cannot open what it works
// with says which flag names it, and why, before anything runs.
func TestServeRefuses(t *testing.T) {
	dir := t.TempDir()
	resolv := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 10.139.1.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		s    Service
		want string
	}{
		{Service{NetNS: dir + "/none"}, "--netns " + dir + "/none: no such file or directory"},
		{Service{ResolvConf: dir + "/none"}, "--resolv-conf " + dir + "/none: no such file or directory"},
		{Service{ResolvConf: resolv, QubesDB: dir + "/none"}, "--qubesdb " + dir + "/none: qubesdb: connect: no such file or directory (nor to the read-only socket " + dir + "/none.ro.sock: no such file or directory)"},
	}
	for _, tt := range tests {
		tt.s.Log = io.Discard
		err := tt.s.Serve(t.Context())
		if got := fmt.Sprint(err); got != tt.want {
			t.Errorf("Serve: %s; want %s", got, tt.want)
		}
	}
}
