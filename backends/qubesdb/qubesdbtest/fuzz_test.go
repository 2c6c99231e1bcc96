package qubesdbtest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/backends/qubesdb"
)

// memConn is a connection whose client sent in and hung up.
type memConn struct {
	in  *bytes.Reader
	mu  sync.Mutex
	out bytes.Buffer
}

func (m *memConn) Read(p []byte) (int, error) { return m.in.Read(p) }
func (m *memConn) Close() error               { return nil }
func (m *memConn) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.out.Write(p)
}

func request(typ byte, path string, data []byte) []byte {
	m := make([]byte, headerSize+len(data))
	m[0] = typ
	copy(m[1:1+pathField], path)
	binary.NativeEndian.PutUint32(m[lenOffset:], uint32(len(data)))
	copy(m[headerSize:], data)
	return m
}

// FuzzRequests feeds the server's request decoding whatever a client might
// send: the server must not panic, must answer only with well-formed
// replies, and must keep in its database only what the daemon would.
func FuzzRequests(f *testing.F) {
	cat := func(ms ...[]byte) []byte { return bytes.Join(ms, nil) }
	f.Add(false, cat(request(cmdWatch, "/a/", nil), request(cmdWrite, "/a/b", []byte("v")),
		request(cmdRead, "/a/b", nil), request(cmdMultiRead, "", nil), request(cmdList, "/a", nil),
		request(cmdRm, "/a/", nil), request(cmdUnwatch, "/a/", nil)))
	f.Add(true, cat(request(cmdWrite, "/a", []byte("v")), request(cmdRm, "/a", nil), request(cmdRead, "/a", nil)))
	f.Add(false, cat(request(cmdWrite, "/"+strings.Repeat("q", 63), []byte("64")), request(cmdList, "", nil)))
	f.Add(false, cat(request(cmdWrite, "/v", make([]byte, 3072)), request(cmdWrite, "/n", []byte("a\x00b"))))
	f.Add(false, cat(request(cmdRead, "/a", []byte("zz"))))
	f.Add(false, cat(request(42, "/a", nil), request(respOK, "/a", []byte("x")), request(cmdWrite, "/d/", []byte("x"))))
	f.Add(false, cat(request(cmdWatch, "/w", []byte("xx")), request(cmdWrite, "-x", nil)))
	f.Fuzz(func(t *testing.T, ro bool, stream []byte) {
		s := newServer()
		conn := &memConn{in: bytes.NewReader(stream)}
		s.serve(conn, ro)
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			panic(fmt.Sprintf("hang on %x\n%s", stream, buf[:n]))
		}

		out := conn.out.Bytes()
		for len(out) > 0 {
			if len(out) < headerSize {
				t.Fatalf("%d bytes after the last whole message", len(out))
			}
			typ, n := out[0], binary.NativeEndian.Uint32(out[lenOffset:])
			if typ < respOK || typ > respWatch {
				t.Fatalf("the server sent type %d", typ)
			}
			if bytes.IndexByte(out[1:1+pathField], 0) < 0 {
				t.Fatalf("the server sent a path without NUL: %q", out[1:1+pathField])
			}
			if n > qubesdb.MaxValue || int(n) > len(out)-headerSize {
				t.Fatalf("the server sent data_len %d with %d bytes left", n, len(out)-headerSize)
			}
			if n > 0 && typ != respRead && typ != respMulti {
				t.Fatalf("the server sent %d bytes of data with type %d", n, typ)
			}
			out = out[headerSize+n:]
		}
		if ro && len(s.db) != 0 {
			t.Fatalf("a read-only client wrote %q", s.keys(""))
		}
		for k, v := range s.db {
			if len(k) > qubesdb.MaxPath || !validPath(k) || !insertable(k) {
				t.Fatalf("the database holds the path %q", k)
			}
			if len(v) > qubesdb.MaxValue || bytes.IndexByte(v, 0) >= 0 {
				t.Fatalf("the database holds the value %q at %s", v, k)
			}
		}
	})
}
