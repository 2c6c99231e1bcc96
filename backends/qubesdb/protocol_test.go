package qubesdb_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/backends/qubesdb"
)

// A fake daemon that answers with whatever a test says, to reach the
// client's checks of what enters from the socket.

// msg builds a message as the daemon would send it.
func msg(typ byte, path string, data []byte) []byte {
	m := make([]byte, 72+len(data))
	m[0] = typ
	copy(m[1:65], path)
	binary.NativeEndian.PutUint32(m[68:], uint32(len(data)))
	copy(m[72:], data)
	return m
}

// withLen is msg with a data length that differs from the data sent.
func withLen(m []byte, n uint32) []byte {
	m = bytes.Clone(m)
	binary.NativeEndian.PutUint32(m[68:], n)
	return m
}

func cat(ms ...[]byte) []byte { return bytes.Join(ms, nil) }

// fake listens where a daemon would and runs serve for every connection.
// It returns the socket path and a counter of connections.
func fake(t *testing.T, serve func(c net.Conn)) (string, *atomic.Int32) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "qubesdb.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return path, &n
}

// answer reads one request header and its data, then sends reply.
func answer(reply []byte) func(c net.Conn) {
	return func(c net.Conn) {
		var h [72]byte
		if _, err := io.ReadFull(c, h[:]); err != nil {
			return
		}
		if _, err := io.CopyN(io.Discard, c, int64(binary.NativeEndian.Uint32(h[68:]))); err != nil {
			return
		}
		c.Write(reply)
		io.Copy(io.Discard, c) // until the client hangs up
	}
}

// answerAndClose is answer, then the end of the connection.
func answerAndClose(reply []byte) func(c net.Conn) {
	return func(c net.Conn) {
		var h [72]byte
		if _, err := io.ReadFull(c, h[:]); err != nil {
			return
		}
		c.Write(reply)
	}
}

const (
	tOK      = 7
	tNoEnt   = 8
	tError   = 9
	tRead    = 10
	tMulti   = 11
	tList    = 12
	tWatchEv = 13
)

func TestBadReplies(t *testing.T) {
	noNUL := msg(tRead, "", nil)
	copy(noNUL[1:65], strings.Repeat("a", 64))
	tests := []struct {
		name  string
		do    func(c *qubesdb.Client) error
		reply []byte
		want  string
		close bool // the daemon closes after its reply
	}{
		{"unknown type", read("/a"), msg(42, "/a", nil),
			"qubesdb read /a: protocol violation: daemon sent type 42, not a reply", false},
		{"a command", read("/a"), msg(0, "/a", nil),
			"qubesdb read /a: protocol violation: daemon sent READ, not a reply", false},
		{"data over the limit", read("/a"), withLen(msg(tRead, "/a", nil), 3072),
			"qubesdb read /a: protocol violation: RESP_READ carries 3072 bytes, more than the limit of 3071", false},
		{"data length of 4 GiB", read("/a"), withLen(msg(tRead, "/a", nil), 0xffffffff),
			"qubesdb read /a: protocol violation: RESP_READ carries 4294967295 bytes, more than the limit of 3071", false},
		{"path without NUL", read("/a"), noNUL,
			"qubesdb read /a: protocol violation: RESP_READ has a path without its terminating NUL", false},
		{"header cut short", read("/a"), msg(tRead, "/a", nil)[:40],
			"qubesdb read /a: protocol violation: connection closed inside a message header", true},
		{"data cut short", read("/a"), withLen(msg(tRead, "/a", []byte("ab")), 5),
			"qubesdb read /a: protocol violation: connection closed inside the data of RESP_READ", true},
		{"reply for another path", read("/a"), msg(tRead, "/b", []byte("v")),
			`qubesdb read /a: protocol violation: READ of "/a" answered for "/b"`, false},
		{"reply of another type", read("/a"), msg(tList, "/a", nil),
			"qubesdb read /a: protocol violation: READ answered with RESP_LIST", false},
		{"NUL in a value", read("/a"), msg(tRead, "/a", []byte("a\x00")),
			`qubesdb read /a: protocol violation: RESP_READ of "/a": value has a NUL byte at offset 1`, false},
		{"RESP_OK with data", write("/a"), msg(tOK, "/a", []byte("x")),
			"qubesdb write /a: protocol violation: RESP_OK carries 1 bytes of data", false},
		{"RESP_READ to a write", write("/a"), msg(tRead, "/a", nil),
			"qubesdb write /a: protocol violation: WRITE answered with RESP_READ", false},
		{"NOENT to a watch", watch("/a"), msg(tNoEnt, "/a", nil),
			"qubesdb watch /a: protocol violation: WATCH answered with RESP_ERROR_NOENT", false},
		{"watch event with data", read("/a"), msg(tWatchEv, "/a", []byte("x")),
			"qubesdb read /a: protocol violation: RESP_WATCH carries 1 bytes of data", false},
		{"watch event without path", read("/a"), msg(tWatchEv, "", nil),
			`qubesdb read /a: protocol violation: RESP_WATCH for "": empty path`, false},
		{"watch event for a bad path", read("/a"), msg(tWatchEv, "/a*", nil),
			`qubesdb read /a: protocol violation: RESP_WATCH for "/a*": path has '*' at character 3; allowed are A-Z a-z 0-9 and _/.:@-`, false},
		{"entry outside the prefix", multiread("/a/"), cat(msg(tMulti, "/b", nil), msg(tMulti, "", nil)),
			`qubesdb multiread /a/: protocol violation: MULTIREAD of "/a/" answered with "/b"`, false},
		{"entry with a bad path", multiread("/a/"), cat(msg(tMulti, "/a/ x", nil), msg(tMulti, "", nil)),
			`qubesdb multiread /a/: protocol violation: MULTIREAD entry "/a/ x": path has ' ' at character 4; allowed are A-Z a-z 0-9 and _/.:@-`, false},
		{"entry twice", multiread("/a/"), cat(msg(tMulti, "/a/1", nil), msg(tMulti, "/a/1", nil), msg(tMulti, "", nil)),
			`qubesdb multiread /a/: protocol violation: MULTIREAD of "/a/" names "/a/1" twice`, false},
		{"end marker with data", multiread("/a/"), msg(tMulti, "", []byte("x")),
			"qubesdb multiread /a/: protocol violation: the end marker of MULTIREAD carries 1 bytes of data", false},
		{"NOENT to a multiread", multiread("/a/"), msg(tNoEnt, "/a/", nil),
			"qubesdb multiread /a/: protocol violation: MULTIREAD answered with RESP_ERROR_NOENT", false},
		{"list entry with data", list("/a/"), cat(msg(tList, "/a/1", []byte("v")), msg(tList, "", nil)),
			`qubesdb list /a/: protocol violation: RESP_LIST entry "/a/1" carries 1 bytes of data`, false},
		{"list entry twice", list(""), cat(msg(tList, "/a", nil), msg(tList, "/a", nil), msg(tList, "", nil)),
			`qubesdb list : protocol violation: LIST of "" names "/a" twice`, false},
		{"list entry with a long path", list(""), cat(msg(tList, "/"+strings.Repeat("a", 63), nil)),
			"qubesdb list : protocol violation: RESP_LIST has a path without its terminating NUL", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			serve := answer(tt.reply)
			if tt.close {
				serve = answerAndClose(tt.reply)
			}
			path, conns := fake(t, serve)
			c := open(t, path)
			err := tt.do(c)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error = %v\nwant    %s", err, tt.want)
			}
			// A protocol violation is not retried: the reply cannot be
			// trusted, but the request may have been carried out.
			if n := conns.Load(); n != 1 {
				t.Fatalf("%d connections; want 1", n)
			}
		})
	}
}

func read(p string) func(*qubesdb.Client) error {
	return func(c *qubesdb.Client) error { _, err := c.Read(p); return err }
}

func write(p string) func(*qubesdb.Client) error {
	return func(c *qubesdb.Client) error { return c.Write(p, []byte("v")) }
}

func watch(p string) func(*qubesdb.Client) error {
	return func(c *qubesdb.Client) error { return c.Watch(p) }
}

func multiread(p string) func(*qubesdb.Client) error {
	return func(c *qubesdb.Client) error { _, err := c.MultiRead(p); return err }
}

func list(p string) func(*qubesdb.Client) error {
	return func(c *qubesdb.Client) error { _, err := c.List(p); return err }
}

// The daemon's RESP_ERROR to anything but a write leaves the connection
// in place.
func TestRefused(t *testing.T) {
	path, conns := fake(t, func(c net.Conn) {
		for {
			var h [72]byte
			if _, err := io.ReadFull(c, h[:]); err != nil {
				return
			}
			h[0] = tError
			c.Write(h[:])
		}
	})
	c := open(t, path)
	for _, tt := range []struct {
		do   func(*qubesdb.Client) error
		want string
	}{
		{read("/a"), "qubesdb read /a: refused by the daemon"},
		{multiread("/a"), "qubesdb multiread /a: refused by the daemon"},
		{list("/a"), "qubesdb list /a: refused by the daemon"},
		{watch("/a"), "qubesdb watch /a: refused by the daemon"},
		{func(c *qubesdb.Client) error { return c.Rm("/a") }, "qubesdb rm /a: refused by the daemon"},
		{func(c *qubesdb.Client) error { return c.Unwatch("/a") }, "qubesdb unwatch /a: refused by the daemon"},
	} {
		if err := tt.do(c); err == nil || err.Error() != tt.want {
			t.Errorf("error = %v; want %s", err, tt.want)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections; want 1", n)
	}
}

// A connection that ends before the reply is made again and the request
// sent once more; a second loss is reported.
func TestLostBeforeReply(t *testing.T) {
	path, conns := fake(t, func(c net.Conn) {
		var h [72]byte
		io.ReadFull(c, h[:])
	})
	c := open(t, path)
	_, err := c.Read("/a")
	if want := "qubesdb read /a: connection closed by the daemon"; err == nil || err.Error() != want {
		t.Fatalf("error = %v; want %s", err, want)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections; want 2 (one retry)", n)
	}
}

// A reply with no request outstanding ends the connection; the next
// request makes a new one.
func TestUnsolicitedReply(t *testing.T) {
	var first atomic.Bool
	dropped := make(chan struct{})
	path, conns := fake(t, func(c net.Conn) {
		if first.CompareAndSwap(false, true) {
			c.Write(msg(tOK, "/a", nil))
			io.Copy(io.Discard, c) // until the client hangs up
			close(dropped)
			return
		}
		answer(msg(tRead, "/a", []byte("v")))(c)
	})
	c := open(t, path)
	select {
	case <-dropped:
	case <-time.After(5 * time.Second):
		t.Fatal("the client kept the connection after a stray reply")
	}
	got, err := c.Read("/a")
	if err != nil || string(got) != "v" {
		t.Fatalf("Read = %q, %v", got, err)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections; want 2", n)
	}
}

// Watch events sent between a request and its reply, and between the
// entries' end and the next request, are queued in order.
func TestEventsAmidReplies(t *testing.T) {
	path, _ := fake(t, func(c net.Conn) {
		var h [72]byte
		for {
			if _, err := io.ReadFull(c, h[:]); err != nil {
				return
			}
			switch h[0] {
			case 5: // WATCH
				h[0] = tOK
				c.Write(h[:])
			case 2: // MULTIREAD
				c.Write(cat(
					msg(tWatchEv, "/fw/1", nil),
					msg(tWatchEv, "/fw/2", nil),
					msg(tMulti, "/fw/2", []byte("two")),
					msg(tMulti, "/fw/1", []byte("one")),
					msg(tMulti, "\x00fw/1", nil), // the daemon's end marker
					msg(tWatchEv, "/fw", nil),
				))
			}
		}
	})
	c := open(t, path)
	if err := c.Watch("/fw/"); err != nil {
		t.Fatal(err)
	}
	entries, err := c.MultiRead("/fw/")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Path != "/fw/1" || string(entries[1].Value) != "two" {
		t.Fatalf("MultiRead = %+v", entries)
	}
	for _, want := range []string{"/fw/1", "/fw/2", "/fw"} {
		if ev := next(t, c); ev.Path != want {
			t.Fatalf("event %+v; want %s", ev, want)
		}
	}
}

// A daemon that does not answer: the request fails, the connection is
// dropped, and the next request makes a new one.
func TestNoReply(t *testing.T) {
	restore := qubesdb.SetReplyTimeout(50 * time.Millisecond)
	t.Cleanup(restore)
	var first atomic.Bool
	path, conns := fake(t, func(c net.Conn) {
		if first.CompareAndSwap(false, true) {
			io.Copy(io.Discard, c)
			return
		}
		answer(msg(tRead, "/a", []byte("v")))(c)
	})
	c := open(t, path)
	if _, err := c.Read("/a"); err == nil || err.Error() != "qubesdb read /a: no reply from the daemon" {
		t.Fatalf("error = %v", err)
	}
	if got, err := c.Read("/a"); err != nil || string(got) != "v" {
		t.Fatalf("Read = %q, %v", got, err)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections; want 2", n)
	}
}

func TestErrorsWrap(t *testing.T) {
	path, _ := fake(t, answer(msg(tNoEnt, "/a", nil)))
	c := open(t, path)
	_, err := c.Read("/a")
	if !errors.Is(err, qubesdb.ErrNotFound) || err.Error() != "qubesdb read /a: not found" {
		t.Fatalf("error = %v", err)
	}
}
