package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Ready tells systemd that start-up, or a reload, is complete.
func Ready() error { return Send("READY=1") }

// Reloading tells systemd that a reload has begun. systemd wants the
// monotonic time with it, in the same datagram, to tell this reload from
// an earlier one.
func Reloading() error {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return fmt.Errorf("notify systemd: read the monotonic clock: %w", err)
	}
	usec := uint64(ts.Sec)*1_000_000 + uint64(ts.Nsec)/1_000
	return Send("RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatUint(usec, 10))
}

// Stopping tells systemd that the service is shutting down.
func Stopping() error { return Send("STOPPING=1") }

// Status sets the one-line status that systemctl status shows. A newline
// would end the assignment and start another, so each becomes a space.
func Status(s string) error {
	return Send("STATUS=" + strings.ReplaceAll(s, "\n", " "))
}

// Send sends state, newline-separated KEY=VALUE assignments, in one
// datagram to the socket $NOTIFY_SOCKET names; without $NOTIFY_SOCKET it
// does nothing.
func Send(state string) error {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return nil
	}
	// Only an absolute path or an abstract name: a relative one would
	// depend on the working directory, and systemd never passes one.
	// Go's net package turns a leading "@" into the abstract namespace's
	// NUL byte.
	if name[0] != '/' && name[0] != '@' {
		return fmt.Errorf("notify systemd: NOTIFY_SOCKET %q is neither an absolute path nor an abstract socket (@name)", name)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify systemd: %w", err)
	}
	defer conn.Close()
	n, err := conn.Write([]byte(state))
	switch {
	case err != nil:
		return fmt.Errorf("notify systemd: %w", err)
	case n != len(state):
		return fmt.Errorf("notify systemd: sent %d of %d bytes", n, len(state))
	}
	return nil
}

// Notifier tells systemd through $NOTIFY_SOCKET of the agent's states,
// as agent.Notifier.
type Notifier struct{}

func (Notifier) Ready() error          { return Ready() }
func (Notifier) Reloading() error      { return Reloading() }
func (Notifier) Stopping() error       { return Stopping() }
func (Notifier) Status(s string) error { return Status(s) }
