package sdnotify_test

import (
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/qfw-dev/qfw/agent/sdnotify"
)

// listen makes a datagram socket as systemd does, at a path or, for a name
// that starts with "@", in the abstract namespace, and points
// $NOTIFY_SOCKET at it.
func listen(t *testing.T, abstract bool) *net.UnixConn {
	t.Helper()
	name := filepath.Join(t.TempDir(), "notify")
	if abstract {
		name = fmt.Sprintf("@qfw-sdnotify-test-%08x", rand.Uint32())
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", name)
	return c
}

// receive reads one datagram.
func receive(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no datagram: %v", err)
	}
	return string(buf[:n])
}

func monotonicUsec(t *testing.T) uint64 {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return uint64(ts.Sec)*1_000_000 + uint64(ts.Nsec)/1_000
}

func TestDatagrams(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		t.Run(map[bool]string{false: "path", true: "abstract"}[abstract], func(t *testing.T) {
			c := listen(t, abstract)
			for _, tc := range []struct {
				send func() error
				want string
			}{
				{sdnotify.Ready, "READY=1"},
				{sdnotify.Stopping, "STOPPING=1"},
				{func() error { return sdnotify.Status("applied 3 clients") }, "STATUS=applied 3 clients"},
				{func() error { return sdnotify.Status("two\nlines") }, "STATUS=two lines"},
				{func() error { return sdnotify.Send("READY=1\nSTATUS=up") }, "READY=1\nSTATUS=up"},
			} {
				if err := tc.send(); err != nil {
					t.Fatal(err)
				}
				if got := receive(t, c); got != tc.want {
					t.Errorf("datagram %q; want %q", got, tc.want)
				}
			}
		})
	}
}

// TestReloading checks that RELOADING=1 and MONOTONIC_USEC come in one
// datagram, with the monotonic clock's time of the call in microseconds.
func TestReloading(t *testing.T) {
	c := listen(t, false)
	before := monotonicUsec(t)
	if err := sdnotify.Reloading(); err != nil {
		t.Fatal(err)
	}
	after := monotonicUsec(t)
	got := receive(t, c)
	m := regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=([1-9][0-9]*)$`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("datagram %q; want RELOADING=1 and MONOTONIC_USEC=N", got)
	}
	usec, err := strconv.ParseUint(m[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if usec < before || usec > after {
		t.Errorf("MONOTONIC_USEC=%d; want between %d and %d", usec, before, after)
	}
}

// TestUnset checks that without $NOTIFY_SOCKET nothing is sent and
// nothing fails: the agent run by hand.
func TestUnset(t *testing.T) {
	c := listen(t, false)
	t.Setenv("NOTIFY_SOCKET", "")
	for _, f := range []func() error{sdnotify.Ready, sdnotify.Reloading, sdnotify.Stopping, func() error { return sdnotify.Status("x") }} {
		if err := f(); err != nil {
			t.Errorf("with NOTIFY_SOCKET unset: %v", err)
		}
	}
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := c.Read(make([]byte, 64)); err == nil {
		t.Errorf("a datagram of %d bytes was sent with NOTIFY_SOCKET unset", n)
	}
}

func TestErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "gone")
	for _, tc := range []struct{ socket, want string }{
		{"notify.sock", `notify systemd: NOTIFY_SOCKET "notify.sock" is neither an absolute path nor an abstract socket (@name)`},
		{"vsock:2:1234", `notify systemd: NOTIFY_SOCKET "vsock:2:1234" is neither an absolute path nor an abstract socket (@name)`},
		{missing, "notify systemd: dial unixgram " + missing + ": connect: no such file or directory"},
	} {
		t.Setenv("NOTIFY_SOCKET", tc.socket)
		err := sdnotify.Ready()
		if err == nil || err.Error() != tc.want {
			t.Errorf("NOTIFY_SOCKET=%s: error %v; want %s", tc.socket, err, tc.want)
		}
	}
}
