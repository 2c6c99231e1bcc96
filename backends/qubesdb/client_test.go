package qubesdb_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/backends/qubesdb"
	"github.com/qfw-dev/qfw/backends/qubesdb/qubesdbtest"
)

func newServer(t *testing.T) *qubesdbtest.Server {
	t.Helper()
	srv, err := qubesdbtest.NewServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func open(t *testing.T, path string) *qubesdb.Client {
	t.Helper()
	c, err := qubesdb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// next returns the next event, failing after a while.
func next(t *testing.T, c *qubesdb.Client) qubesdb.Event {
	t.Helper()
	select {
	case ev, ok := <-c.Events():
		if !ok {
			t.Fatal("events channel closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	panic("unreachable")
}

// none checks that no event arrives for a short while.
func none(t *testing.T, c *qubesdb.Client) {
	t.Helper()
	select {
	case ev := <-c.Events():
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestReadWrite(t *testing.T) {
	srv := newServer(t)
	c := open(t, srv.Path())
	if c.ReadOnly() {
		t.Fatal("ReadOnly() = true on the read-write socket")
	}
	if _, err := c.Read("/missing"); !errors.Is(err, qubesdb.ErrNotFound) {
		t.Fatalf("Read(/missing) error = %v; want ErrNotFound", err)
	}
	for _, v := range []string{"value", "", strings.Repeat("v", qubesdb.MaxValue)} {
		if err := c.Write("/conf/a", []byte(v)); err != nil {
			t.Fatal(err)
		}
		got, err := c.Read("/conf/a")
		if err != nil || string(got) != v {
			t.Fatalf("Read(/conf/a) = %q, %v; want %q", got, err, v)
		}
		if dom0, ok := srv.Read("/conf/a"); !ok || string(dom0) != v {
			t.Fatalf("server holds %q, %v; want %q", dom0, ok, v)
		}
	}
	long := "/" + strings.Repeat("p", qubesdb.MaxPath-1)
	if err := c.Write(long, []byte("63")); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Read(long); err != nil || string(got) != "63" {
		t.Fatalf("Read(63 characters) = %q, %v", got, err)
	}
}

func TestMultiReadList(t *testing.T) {
	srv := newServer(t)
	c := open(t, srv.Path())
	// Written out of order; the daemon answers in strcmp order, reversed for "".
	for _, p := range []string{"/conf/b/2", "/conf/b/10", "/conf/b/1", "/conf/b", "/conf/b.x", "/conf/bb", "/other"} {
		if err := srv.Write(p, []byte("v"+p)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"/conf/b/", []string{"/conf/b/1", "/conf/b/10", "/conf/b/2"}},
		{"/conf/b", []string{"/conf/b", "/conf/b.x", "/conf/b/1", "/conf/b/10", "/conf/b/2", "/conf/bb"}},
		{"", []string{"/conf/b", "/conf/b.x", "/conf/b/1", "/conf/b/10", "/conf/b/2", "/conf/bb", "/other"}},
		{"/nothing/", nil},
	}
	for _, tt := range tests {
		entries, err := c.MultiRead(tt.prefix)
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		for _, e := range entries {
			if string(e.Value) != "v"+e.Path {
				t.Errorf("MultiRead(%q): %s = %q", tt.prefix, e.Path, e.Value)
			}
			paths = append(paths, e.Path)
		}
		if !slices.Equal(paths, tt.want) {
			t.Errorf("MultiRead(%q) = %q; want %q", tt.prefix, paths, tt.want)
		}
		list, err := c.List(tt.prefix)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(list, tt.want) {
			t.Errorf("List(%q) = %q; want %q", tt.prefix, list, tt.want)
		}
	}
}

func TestRm(t *testing.T) {
	srv := newServer(t)
	c := open(t, srv.Path())
	for _, p := range []string{"/d/a", "/d/b", "/d", "/dd"} {
		srv.Write(p, nil)
	}
	if err := c.Rm("/d/"); err != nil {
		t.Fatal(err)
	}
	if got := srv.List(""); !slices.Equal(got, []string{"/d", "/dd"}) {
		t.Fatalf("after Rm(/d/): %q", got)
	}
	if err := c.Rm("/d/"); err != nil {
		t.Fatalf("Rm of a missing subtree: %v", err)
	}
	if err := c.Rm("/d"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rm("/d"); err != nil {
		t.Fatalf("Rm of a missing key: %v", err)
	}
	if got := srv.List(""); !slices.Equal(got, []string{"/dd"}) {
		t.Fatalf("after Rm(/d): %q", got)
	}
}

func TestWatch(t *testing.T) {
	srv := newServer(t)
	c := open(t, srv.Path())
	if err := c.Watch("/fw/"); err != nil {
		t.Fatal(err)
	}
	if err := c.Watch("/sig"); err != nil {
		t.Fatal(err)
	}
	srv.Write("/fw/1", []byte("x"))
	srv.Write("/fw", []byte("x")) // not below /fw/
	srv.Write("/sig", nil)
	srv.Write("/sig/x", nil) // not /sig itself
	srv.Rm("/fw/")
	for _, want := range []string{"/fw/1", "/sig", "/fw/"} {
		if ev := next(t, c); ev != (qubesdb.Event{Path: want}) {
			t.Fatalf("event %+v; want %s", ev, want)
		}
	}
	none(t, c)

	// The client's own write: its reply first, then its event.
	if err := c.Write("/fw/own", nil); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, c); ev.Path != "/fw/own" {
		t.Fatalf("event %+v; want /fw/own", ev)
	}

	// Two registrations, two events; one unwatch leaves one.
	if err := c.Watch("/fw/"); err != nil {
		t.Fatal(err)
	}
	srv.Write("/fw/2", nil)
	next(t, c)
	next(t, c)
	if err := c.Unwatch("/fw/"); err != nil {
		t.Fatal(err)
	}
	srv.Write("/fw/3", nil)
	next(t, c)
	none(t, c)
	if err := c.Unwatch("/fw/"); err != nil {
		t.Fatal(err)
	}
	if err := c.Unwatch("/fw/"); !errors.Is(err, qubesdb.ErrNotFound) {
		t.Fatalf("Unwatch of no watch: %v; want ErrNotFound", err)
	}
}

func TestReconnectAfterFailedWrite(t *testing.T) {
	srv := newServer(t)
	c := open(t, srv.Path())
	if err := c.Watch("/fw/"); err != nil {
		t.Fatal(err)
	}
	srv.FailWrite("/x")
	err := c.Write("/x", []byte("v"))
	if err == nil || err.Error() != "qubesdb write /x: refused by the daemon" {
		t.Fatalf("Write(/x) error = %v", err)
	}
	// The daemon dropped the connection; the client makes a new one and
	// says so once the watch is registered again.
	if ev := next(t, c); ev != (qubesdb.Event{Reconnected: true}) {
		t.Fatalf("event %+v; want Reconnected", ev)
	}
	if got := srv.Watches(); !slices.Equal(got, []string{"/fw/"}) {
		t.Fatalf("server watches %q; want [/fw/]", got)
	}
	srv.Write("/fw/a", nil)
	if ev := next(t, c); ev.Path != "/fw/a" {
		t.Fatalf("event %+v; want /fw/a", ev)
	}
	if err := c.Write("/x", []byte("v")); err != nil {
		t.Fatal(err)
	}
}

// Paths and values beyond the daemon's limits are refused before anything
// is sent.
func TestLimits(t *testing.T) {
	var received atomic.Int64
	path, _ := fake(t, func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c)
		received.Add(n)
	})
	c := open(t, path)
	p64 := "/" + strings.Repeat("q", 63)
	tests := []struct {
		do   func() error
		want string
	}{
		{func() error { _, err := c.Read(p64); return err },
			"qubesdb read " + p64 + ": path is 64 characters, the limit is 63"},
		{func() error { return c.Write(p64, nil) },
			"qubesdb write " + p64 + ": path is 64 characters, the limit is 63"},
		{func() error { return c.Write("/conf/sp ace", nil) },
			"qubesdb write /conf/sp ace: path has ' ' at character 9; allowed are A-Z a-z 0-9 and _/.:@-"},
		{func() error { return c.Write("/conf/star*", nil) },
			"qubesdb write /conf/star*: path has '*' at character 11; allowed are A-Z a-z 0-9 and _/.:@-"},
		{func() error { return c.Write("noslash", nil) },
			"qubesdb write noslash: path does not start with /"},
		{func() error { return c.Write("-conf", nil) },
			"qubesdb write -conf: path does not start with /"},
		{func() error { return c.Write("", nil) },
			"qubesdb write : empty path"},
		{func() error { return c.Write("/conf/dir/", nil) },
			"qubesdb write /conf/dir/: path ends in /, which names a directory, not a key"},
		{func() error { _, err := c.Read("/conf/dir/"); return err },
			"qubesdb read /conf/dir/: path ends in /, which names a directory, not a key"},
		{func() error { return c.Write("/conf/v", make([]byte, 3072)) },
			"qubesdb write /conf/v: value is 3072 bytes, the limit is 3071"},
		{func() error { return c.Write("/conf/nul", []byte("a\x00b")) },
			"qubesdb write /conf/nul: value has a NUL byte at offset 1"},
		{func() error { return c.Rm("") },
			"qubesdb rm : empty path"},
		{func() error { return c.Watch("conf") },
			"qubesdb watch conf: path does not start with /"},
		{func() error { return c.Unwatch(p64) },
			"qubesdb unwatch " + p64 + ": path is 64 characters, the limit is 63"},
		{func() error { _, err := c.MultiRead("/a b"); return err },
			"qubesdb multiread /a b: path has ' ' at character 3; allowed are A-Z a-z 0-9 and _/.:@-"},
		{func() error { _, err := c.List("x"); return err },
			"qubesdb list x: path does not start with /"},
	}
	for _, tt := range tests {
		if err := tt.do(); err == nil || err.Error() != tt.want {
			t.Errorf("error = %v\nwant    %s", err, tt.want)
		}
	}
	c.Close()
	time.Sleep(20 * time.Millisecond)
	if n := received.Load(); n != 0 {
		t.Fatalf("the daemon received %d bytes; want none", n)
	}
}

// With the read-write socket gone (or refusing), the client uses the
// read-only one, and refuses writes itself.
func TestReadOnlyFallback(t *testing.T) {
	srv := newServer(t)
	if err := os.Remove(srv.Path()); err != nil {
		t.Fatal(err)
	}
	c := open(t, srv.Path())
	if !c.ReadOnly() {
		t.Fatal("ReadOnly() = false")
	}
	srv.Write("/conf/a", []byte("v"))
	if got, err := c.Read("/conf/a"); err != nil || string(got) != "v" {
		t.Fatalf("Read = %q, %v", got, err)
	}
	err := c.Write("/conf/b", []byte("v"))
	if !errors.Is(err, qubesdb.ErrReadOnly) || err.Error() != "qubesdb write /conf/b: connected to the read-only socket" {
		t.Fatalf("Write error = %v", err)
	}
	err = c.Rm("/conf/a")
	if !errors.Is(err, qubesdb.ErrReadOnly) || err.Error() != "qubesdb rm /conf/a: connected to the read-only socket" {
		t.Fatalf("Rm error = %v", err)
	}
	if _, ok := srv.Read("/conf/a"); !ok {
		t.Fatal("Rm on the read-only socket removed the key")
	}
	if err := c.Watch("/conf/"); err != nil {
		t.Fatal(err)
	}
	srv.Write("/conf/c", nil)
	if ev := next(t, c); ev.Path != "/conf/c" {
		t.Fatalf("event %+v", ev)
	}
}

// A daemon that drops every client: the client reconnects by itself,
// registers every watch again, duplicates included, and says so.
func TestDropClients(t *testing.T) {
	srv := newServer(t)
	c := open(t, srv.Path())
	for _, w := range []string{"/a/", "/a/", "/b"} {
		if err := c.Watch(w); err != nil {
			t.Fatal(err)
		}
	}
	srv.DropClients()
	if ev := next(t, c); ev != (qubesdb.Event{Reconnected: true}) {
		t.Fatalf("event %+v; want Reconnected", ev)
	}
	if got := srv.Watches(); !slices.Equal(got, []string{"/a/", "/a/", "/b"}) {
		t.Fatalf("server watches %q", got)
	}
	srv.Write("/a/x", nil)
	next(t, c)
	next(t, c)
	none(t, c)
	if err := c.Write("/a/y", nil); err != nil {
		t.Fatal(err)
	}
}

// A daemon that goes away and comes back: requests fail meanwhile, and the
// client reconnects when it is back.
func TestDaemonRestart(t *testing.T) {
	dir := t.TempDir()
	srv, err := qubesdbtest.NewServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := open(t, srv.Path())
	if err := c.Watch("/a/"); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	_, err = c.Read("/a/x")
	if err == nil || !strings.HasPrefix(err.Error(), "qubesdb read /a/x: connect: ") ||
		!strings.Contains(err.Error(), "(nor to the read-only socket "+srv.ROPath()+": ") {
		t.Fatalf("error = %v", err)
	}
	srv2, err := qubesdbtest.NewServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	if ev := next(t, c); ev != (qubesdb.Event{Reconnected: true}) {
		t.Fatalf("event %+v; want Reconnected", ev)
	}
	srv2.Write("/a/x", []byte("v"))
	if ev := next(t, c); ev.Path != "/a/x" {
		t.Fatalf("event %+v", ev)
	}
}

func TestClose(t *testing.T) {
	srv := newServer(t)
	c := open(t, srv.Path())
	if err := c.Watch("/a/"); err != nil {
		t.Fatal(err)
	}
	srv.Write("/a/x", nil)
	time.Sleep(20 * time.Millisecond)
	c.Close()
	for range c.Events() {
		// Events not received before Close may be dropped; the channel
		// must end.
	}
	if _, err := c.Read("/a/x"); err == nil || err.Error() != "qubesdb read /a/x: client closed" {
		t.Fatalf("Read after Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// Events pile up without bound while nobody receives them, and requests
// go on meanwhile.
func TestEventsUnbounded(t *testing.T) {
	srv := newServer(t)
	c := open(t, srv.Path())
	if err := c.Watch("/e/"); err != nil {
		t.Fatal(err)
	}
	const n = 5000
	for i := range n {
		srv.Write(fmt.Sprintf("/e/%d", i), nil)
	}
	if err := c.Write("/e/last", nil); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if ev := next(t, c); ev.Path != fmt.Sprintf("/e/%d", i) {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	if ev := next(t, c); ev.Path != "/e/last" {
		t.Fatalf("event %+v", ev)
	}
}

// The firewall's sequence (transcript section 07): dom0 writes a list and
// its signal while the agent is busy; the agent's events come before the
// reply to its next request, and the read sees the whole list.
func TestFirewallSequence(t *testing.T) {
	srv := newServer(t)
	agent := open(t, srv.Path())
	dom0 := open(t, srv.Path())
	if err := agent.Watch("/qubes-firewall/"); err != nil {
		t.Fatal(err)
	}
	const ip = "/qubes-firewall/10.137.0.9"
	if err := dom0.Rm(ip + "/"); err != nil {
		t.Fatal(err)
	}
	for _, e := range []qubesdb.Entry{
		{ip + "/policy", []byte("drop")},
		{ip + "/0000", []byte("action=accept proto=tcp dstports=443-443")},
		{ip + "/0002", []byte("action=drop")},
		{ip, nil},
	} {
		if err := dom0.Write(e.Path, e.Value); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := agent.MultiRead(ip + "/")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Path+"="+string(e.Value))
	}
	want := []string{ip + "/0000=action=accept proto=tcp dstports=443-443", ip + "/0002=action=drop", ip + "/policy=drop"}
	if !slices.Equal(got, want) {
		t.Fatalf("MultiRead = %q", got)
	}
	for _, p := range []string{ip + "/policy", ip + "/0000", ip + "/0002", ip} {
		if ev := next(t, agent); ev.Path != p {
			t.Fatalf("event %+v; want %s", ev, p)
		}
	}
	none(t, agent)
}

// Requests from many goroutines at once, with events flowing.
func TestConcurrent(t *testing.T) {
	srv := newServer(t)
	c := open(t, srv.Path())
	if err := c.Watch("/c/"); err != nil {
		t.Fatal(err)
	}
	const workers, ops = 6, 100
	var seen atomic.Int64
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for range c.Events() {
			seen.Add(1)
		}
	}()
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := range ops {
				p := fmt.Sprintf("/c/%d/%d", w, i)
				if err := c.Write(p, []byte(p)); err != nil {
					errs <- err
					return
				}
				if v, err := c.Read(p); err != nil || string(v) != p {
					errs <- fmt.Errorf("Read(%s) = %q, %v", p, v, err)
					return
				}
				if _, err := c.MultiRead(fmt.Sprintf("/c/%d/", w)); err != nil {
					errs <- err
					return
				}
				srv.Write(p+"x", nil)
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for seen.Load() < 2*workers*ops && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := seen.Load(); got != 2*workers*ops {
		t.Fatalf("%d events; want %d", got, 2*workers*ops)
	}
	c.Close()
	<-drained
}

// Without watches the client reconnects when it next needs to, and sends
// no Reconnected event: nothing watched was missed.
func TestReconnectWithoutWatches(t *testing.T) {
	srv := newServer(t)
	c := open(t, srv.Path())
	srv.FailWrite("/x")
	if err := c.Write("/x", nil); err == nil {
		t.Fatal("Write succeeded; want the failure in the database")
	}
	if err := c.Write("/x", []byte("2")); err != nil {
		t.Fatal(err)
	}
	srv.DropClients()
	if got, err := c.Read("/x"); err != nil || string(got) != "2" {
		t.Fatalf("Read after DropClients = %q, %v", got, err)
	}
	none(t, c)
}

func TestOpenFails(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/qubesdb.sock"
	_, err := qubesdb.Open(path)
	want := "qubesdb: connect: no such file or directory" +
		" (nor to the read-only socket " + dir + "/qubesdb.ro.sock: no such file or directory)"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
	if got := qubesdb.ROPath(qubesdb.DefaultPath); got != "/var/run/qubes/qubesdb.ro.sock" {
		t.Fatalf("ROPath(DefaultPath) = %s", got)
	}
}

// BenchmarkMultiRead reads a list of 10,000 rules as the agent reads a
// client's list on its commit: 10,001 messages in one reply.
func BenchmarkMultiRead(b *testing.B) {
	srv, err := qubesdbtest.NewServer(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	const dir = "/qubes-firewall/10.137.0.5/"
	srv.Write(dir+"policy", []byte("drop"))
	for i := range 10000 {
		srv.Write(fmt.Sprintf("%s%04d", dir, i), []byte("action=accept proto=tcp dst4=192.0.2.0/24 dstports=443-443"))
	}
	c, err := qubesdb.Open(srv.Path())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for b.Loop() {
		entries, err := c.MultiRead(dir)
		if err != nil || len(entries) != 10001 {
			b.Fatalf("MultiRead: %d entries, %v", len(entries), err)
		}
	}
}
