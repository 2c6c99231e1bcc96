package qubesdbtest_test

import (
	"encoding/binary"
	"io"
	"net"
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

func request(typ byte, path string, data []byte) []byte {
	m := make([]byte, 72+len(data))
	m[0] = typ
	copy(m[1:65], path)
	binary.NativeEndian.PutUint32(m[68:], uint32(len(data)))
	copy(m[72:], data)
	return m
}

// The test side acts as dom0: its writes fire watches, its refusals are
// the daemon's.
func TestDom0Side(t *testing.T) {
	srv := newServer(t)
	for _, tt := range []struct {
		path, value, want string
	}{
		{"/" + strings.Repeat("q", 63), "", "qubesdbtest write /" + strings.Repeat("q", 63) + ": path is 64 characters, the limit is 63"},
		{"/a b", "", "qubesdbtest write /a b: the daemon refuses this path"},
		{"noslash", "", "qubesdbtest write noslash: the daemon refuses this path"},
		{"/dir/", "", "qubesdbtest write /dir/: the daemon refuses this path"},
		{"", "", "qubesdbtest write : the daemon refuses this path"},
		{"/v", strings.Repeat("v", 3072), "qubesdbtest write /v: the daemon refuses this value"},
		{"/v", "a\x00", "qubesdbtest write /v: the daemon refuses this value"},
	} {
		if err := srv.Write(tt.path, []byte(tt.value)); err == nil || err.Error() != tt.want {
			t.Errorf("Write(%q) error = %v; want %s", tt.path, err, tt.want)
		}
	}
	for _, p := range []string{"/b/2", "/b/10", "/b", "/a"} {
		if err := srv.Write(p, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.List("/b"); !slices.Equal(got, []string{"/b", "/b/10", "/b/2"}) {
		t.Errorf("List(/b) = %q", got)
	}
	if got := srv.MultiRead(""); len(got) != 4 || got[0].Path != "/a" || string(got[3].Value) != "/b/2" {
		t.Errorf("MultiRead() = %q", got)
	}
	if v, ok := srv.Read("/b/10"); !ok || string(v) != "/b/10" {
		t.Errorf("Read(/b/10) = %q, %v", v, ok)
	}
	if !srv.Rm("/b/") || srv.Rm("/b/") || !srv.Rm("/b") || srv.Rm("") {
		t.Error("Rm reports wrongly what it removed")
	}
	if got := srv.List(""); !slices.Equal(got, []string{"/a"}) {
		t.Errorf("after Rm: %q", got)
	}
}

// A client that sends half a header, or never reads, stalls only itself.
func TestSlowClients(t *testing.T) {
	srv := newServer(t)
	half, err := net.Dial("unix", srv.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	half.Write(request(1, "/split", []byte("x"))[:40])

	deaf, err := net.Dial("unix", srv.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer deaf.Close()
	deaf.Write(request(5, "/e/", nil))
	for len(srv.Watches()) == 0 {
		time.Sleep(time.Millisecond)
	}

	c, err := qubesdb.Open(srv.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Far more events than the deaf client's socket buffer holds.
	value := []byte(strings.Repeat("v", 1000))
	start := time.Now()
	for i := range 20000 {
		if err := c.Write("/e/k"+strings.Repeat("k", i%40), value); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("writes took %v", d)
	}
	if got, err := c.Read("/e/k"); err != nil || len(got) != 1000 {
		t.Fatalf("Read = %d bytes, %v", len(got), err)
	}
	// The half header, completed, is answered.
	half.Write(request(1, "/split", []byte("x"))[40:])
	half.SetReadDeadline(time.Now().Add(5 * time.Second))
	var reply [72]byte
	if _, err := io.ReadFull(half, reply[:]); err != nil || reply[0] != 7 {
		t.Fatalf("reply to the completed header: %x, %v", reply[0], err)
	}
}

// DropClients closes the read-only connections too.
func TestDropClients(t *testing.T) {
	srv := newServer(t)
	var conns []net.Conn
	for _, p := range []string{srv.Path(), srv.ROPath()} {
		c, err := net.Dial("unix", p)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	for srv.Clients() != 2 {
		time.Sleep(time.Millisecond)
	}
	srv.DropClients()
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("read after DropClients: %d, %v", n, err)
		}
	}
}
