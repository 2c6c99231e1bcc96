package qubesdb_test

import (
	"errors"
	"slices"
	"strings"
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
