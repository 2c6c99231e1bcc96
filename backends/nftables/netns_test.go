package nftables

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// needNetns skips a test that needs root, nft and ip, unless it runs in CI
// (CI set), where not being able to run it is a failure.
func needNetns(t testing.TB) {
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

// netns is a network namespace made for one test, deleted after it.
type netns struct {
	name string
	file *os.File
}

func newNetns(t testing.TB) *netns {
	t.Helper()
	needNetns(t)
	name := fmt.Sprintf("qfwtest-%08x", rand.Uint32())
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	f, err := os.Open("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &netns{name: name, file: f}
}

// exec runs a command in the namespace and returns its output.
func (n *netns) exec(t testing.TB, stdin []byte, args ...string) string {
	t.Helper()
	return runIn(t, stdin, append([]string{"ip", "netns", "exec", n.name}, args...)...)
}

func run(t testing.TB, args ...string) string {
	t.Helper()
	return runIn(t, nil, args...)
}

func runIn(t testing.TB, stdin []byte, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
