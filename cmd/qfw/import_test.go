package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportAdminFlags checks that import reaches the Admin API as its
// flags say: with --qrexec, through the qrexec client --qrexec-client
// names. (deploy's tests check what Import does with the lists.)
func TestImportAdminFlags(t *testing.T) {
	client := filepath.Join(t.TempDir(), "no-client")
	var stdout, stderr bytes.Buffer
	code := run([]string{"import", "--qrexec", "--qrexec-client", client, "-o", t.TempDir()}, &stdout, &stderr)
	if want := "qfw: read the inventory: qrexec-client-vm dom0 admin.vm.List: fork/exec " + client + ": "; code != exitError || !strings.HasPrefix(stderr.String(), want) || stdout.Len() != 0 {
		t.Errorf("import through a missing qrexec client: exit %d\n%s%s\nwant exit %d and an error that begins %q", code, stdout.String(), stderr.String(), exitError, want)
	}
}
