// Package netnstest makes network namespaces for tests that send real
// packets through a real kernel: each test gets namespaces of its own,
// deleted when it ends, and runs code inside them.
package netnstest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Need skips the test unless it can make network namespaces and run nft:
// root, nft and ip are needed. In CI (CI set) it fails instead, so that
// the tests that prove qfw on real packets cannot go missing unseen.
func Need(t testing.TB) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, tool := range []string{"nft", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if missing == nil {
		return
	}
	msg := "network namespace tests need " + strings.Join(missing, ", ")
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// NS is a network namespace made for one test.
type NS struct {
	Name string
	File *os.File
}

// New makes a network namespace, deleted when the test ends.
func New(t testing.TB) *NS {
	t.Helper()
	Need(t)
	name := fmt.Sprintf("qfwtest-%08x", rand.Uint32())
	Run(t, nil, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	f, err := os.Open("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &NS{Name: name, File: f}
}

// Exec runs a command in the namespace, with stdin, and returns its
// output; it fails the test if the command fails.
func (n *NS) Exec(t testing.TB, stdin []byte, args ...string) string {
	t.Helper()
	return Run(t, stdin, append([]string{"ip", "netns", "exec", n.Name}, args...)...)
}

// Do runs fn in the namespace: sockets fn makes belong to it, and keep
// belonging to it after Do returns. fn runs on an OS thread of its own,
// which is thrown away afterwards rather than returned to the others.
func (n *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with this goroutine.
		runtime.LockOSThread()
		if err := unix.Setns(int(n.File.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter network namespace %s: %w", n.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Run runs a command with stdin and returns its output; it fails the test
// if the command fails.
func Run(t testing.TB, stdin []byte, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
