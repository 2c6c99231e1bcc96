// Package qubesdbtest is an in-process QubesDB daemon for tests. It
// answers byte for byte as qubesdb-daemon v4.3.3 does (the transcript in
// the project's reference shows every byte and is replayed by its tests),
// quirks included: a 64-character path is cut to 63 and accepted, a READ
// that carries data closes the connection unanswered, a write that fails in
// the database is answered with an error and then the connection is
// closed, and a reply is the request's header with only its type and
// length changed.
//
// Unlike the real daemon it serves each connection in its own goroutine,
// so that a test client that sends half a header stalls only itself. The
// database is under one lock and every message for a connection goes
// through its own queue, so events reach each connection in the order of
// the changes and never inside a multi-message reply.
//
// Tests act as dom0 (or the other side of the vchan) with the server's
// Write and Rm, which fire watches as the daemon's mirror does.
package qubesdbtest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/qfw-dev/qfw/backends/qubesdb"
)

// Message types and header layout (include/qubesdb.h).
const (
	cmdRead      = 0
	cmdWrite     = 1
	cmdMultiRead = 2
	cmdList      = 3
	cmdRm        = 4
	cmdWatch     = 5
	cmdUnwatch   = 6
	respOK       = 7
	respNoEnt    = 8
	respError    = 9
	respRead     = 10
	respMulti    = 11
	respList     = 12
	respWatch    = 13

	headerSize = 72
	pathField  = 64
	lenOffset  = 68

	// maxFileSize is the daemon's MAX_FILE_SIZE: a data length of this or
	// more fails the header check.
	maxFileSize = qubesdb.MaxValue + 1
)

// Server is a QubesDB daemon listening on a read-write and a read-only
// socket.
type Server struct {
	rwPath, roPath string
	listeners      []net.Listener

	mu        sync.Mutex
	db        map[string][]byte
	conns     map[*sconn]struct{}
	failWrite map[string]int
	closed    bool

	wg sync.WaitGroup
}

// NewServer listens on dir/qubesdb.sock and dir/qubesdb.ro.sock.
func NewServer(dir string) (*Server, error) {
	s := newServer()
	s.rwPath = filepath.Join(dir, "qubesdb.sock")
	s.roPath = qubesdb.ROPath(s.rwPath)
	for _, p := range []string{s.rwPath, s.roPath} {
		l, err := net.Listen("unix", p)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("qubesdbtest: %w", err)
		}
		s.listeners = append(s.listeners, l)
		s.wg.Add(1)
		go s.accept(l, p == s.roPath)
	}
	return s, nil
}

func newServer() *Server {
	return &Server{
		db:        map[string][]byte{},
		conns:     map[*sconn]struct{}{},
		failWrite: map[string]int{},
	}
}

// Path is the read-write socket.
func (s *Server) Path() string { return s.rwPath }

// ROPath is the read-only socket.
func (s *Server) ROPath() string { return s.roPath }

func (s *Server) accept(l net.Listener, ro bool) {
	defer s.wg.Done()
	for {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		s.serve(nc, ro)
	}
}

// serve starts the goroutines of one connection.
func (s *Server) serve(rwc io.ReadWriteCloser, ro bool) {
	sc := &sconn{rwc: rwc, ro: ro, wake: make(chan struct{}, 1), done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		rwc.Close()
		return
	}
	s.conns[sc] = struct{}{}
	s.mu.Unlock()
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.readRequests(sc)
		// Out of the set first, so that no event is queued behind the
		// last reply and a client that reconnects finds its old watches
		// gone, as the daemon removes them on disconnect.
		s.mu.Lock()
		delete(s.conns, sc)
		s.mu.Unlock()
		sc.closeWhenSent()
	}()
	go func() {
		defer s.wg.Done()
		sc.writeReplies()
	}()
}

// Close stops listening, closes every connection and removes the sockets.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	for _, l := range s.listeners {
		l.Close() // removes the socket file
	}
	s.DropClients()
	s.wg.Wait()
	return nil
}

// DropClients closes every connection at once, as a restarting daemon
// does; the clients' watches go with them.
func (s *Server) DropClients() {
	s.mu.Lock()
	conns := make([]*sconn, 0, len(s.conns))
	for sc := range s.conns {
		conns = append(conns, sc)
		delete(s.conns, sc)
	}
	s.mu.Unlock()
	for _, sc := range conns {
		sc.close()
	}
}

// Clients returns the number of open connections.
func (s *Server) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Watches returns every registration of every connection, sorted.
func (s *Server) Watches() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []string
	for sc := range s.conns {
		all = append(all, sc.watches...)
	}
	slices.Sort(all)
	return all
}

// FailWrite makes the next client WRITE of path fail in the database, as
// an allocation failure would: the client gets RESP_ERROR and the
// connection is closed.
func (s *Server) FailWrite(path string) {
	s.mu.Lock()
	s.failWrite[path]++
	s.mu.Unlock()
}

// Write sets path to value as dom0 does, firing watches. It refuses what
// the daemon refuses, and paths over qubesdb.MaxPath rather than cut them.
func (s *Server) Write(path string, value []byte) error {
	switch {
	case len(path) > qubesdb.MaxPath:
		return fmt.Errorf("qubesdbtest write %s: path is %d characters, the limit is %d", path, len(path), qubesdb.MaxPath)
	case !validPath(path) || !insertable(path):
		return fmt.Errorf("qubesdbtest write %s: the daemon refuses this path", path)
	case len(value) >= maxFileSize || bytes.IndexByte(value, 0) >= 0:
		return fmt.Errorf("qubesdbtest write %s: the daemon refuses this value", path)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.db[path] = bytes.Clone(value)
	s.fire(path)
	return nil
}

// Rm removes path, or with a trailing '/' its subtree, as dom0 does,
// firing watches; it reports whether anything was removed.
func (s *Server) Rm(path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.remove(path) {
		return false
	}
	s.fire(path) // once for a subtree, with its trailing '/'
	return true
}

// Read returns the value at path and whether there is one.
func (s *Server) Read(path string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.db[path]
	return bytes.Clone(v), ok
}

// MultiRead returns the entries whose path starts with prefix, sorted.
func (s *Server) MultiRead(prefix string) []qubesdb.Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []qubesdb.Entry
	for _, p := range s.keys(prefix) {
		out = append(out, qubesdb.Entry{Path: p, Value: bytes.Clone(s.db[p])})
	}
	return out
}

// List returns the paths that start with prefix, sorted.
func (s *Server) List(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys(prefix)
}

// keys returns the paths starting with prefix in strcmp order. s.mu is held.
func (s *Server) keys(prefix string) []string {
	var ks []string
	for k := range s.db {
		if strings.HasPrefix(k, prefix) {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	return ks
}

// remove is qubesdb_remove: a trailing '/' removes a subtree, anything
// else one key. It reports whether anything was removed. s.mu is held.
func (s *Server) remove(path string) bool {
	if path == "" {
		return false // the daemon reads path[-1]; nothing sane to mimic
	}
	if !strings.HasSuffix(path, "/") {
		_, ok := s.db[path]
		delete(s.db, path)
		return ok
	}
	ks := s.keys(path)
	for _, k := range ks {
		delete(s.db, k)
	}
	return len(ks) > 0
}

// fire queues an event for every registration that matches path: a watch
// ending in '/' matches the paths it starts, any other only itself. s.mu is
// held, so events reach every connection in the order of the changes.
func (s *Server) fire(path string) {
	var ev [headerSize]byte
	ev[0] = respWatch
	copy(ev[1:1+pathField], path)
	for sc := range s.conns {
		for _, w := range sc.watches {
			if w == path || strings.HasSuffix(w, "/") && strings.HasPrefix(path, w) {
				sc.send(ev[:])
			}
		}
	}
}

// insertable reports whether qubesdb_insert takes path: the header check
// lets through "", "noslash" and "/dir/", then the insert refuses them.
func insertable(path string) bool {
	return path != "" && path[0] == '/' && !strings.HasSuffix(path, "/")
}

// validPath is verify_path: characters from [A-Za-z0-9_/.:@-] and no
// leading '-'. The empty path passes.
func validPath(path string) bool {
	if strings.HasPrefix(path, "-") {
		return false
	}
	for i := 0; i < len(path); i++ {
		b := path[i]
		ok := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
			strings.IndexByte("_/.:@-", b) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// readRequests reads and answers one connection's requests until it ends
// or a request ends it.
func (s *Server) readRequests(sc *sconn) {
	for {
		var h [headerSize]byte
		if _, err := io.ReadFull(sc.rwc, h[:]); err != nil {
			return
		}
		// The daemon forces path[63] = 0: a 64-character path is cut to
		// 63, and the cut header is what it echoes.
		h[pathField] = 0
		typ := h[0]
		path := string(h[1 : 1+bytes.IndexByte(h[1:1+pathField], 0)])
		n := binary.NativeEndian.Uint32(h[lenOffset:])
		if typ > cmdUnwatch || !validPath(path) || n >= maxFileSize {
			// verify_hdr refuses replies and unknown types, bad paths and
			// long data; the data is read and dropped to stay in step.
			if !sc.discard(n) {
				return
			}
			sc.send(reply(h, respError, nil))
			continue
		}
		var data []byte
		switch typ {
		case cmdRead:
			if n != 0 {
				return // handle_read gives up: no reply at all
			}
		case cmdMultiRead, cmdList, cmdRm:
			if n != 0 {
				if !sc.discard(n) {
					return
				}
				sc.send(reply(h, respError, nil))
				continue
			}
		case cmdWrite:
			data = make([]byte, n)
			if _, err := io.ReadFull(sc.rwc, data); err != nil {
				return
			}
		case cmdWatch, cmdUnwatch:
			// The daemon does not look at data_len here: any data is left
			// in the stream and read as the start of the next header.
		}
		if !s.handle(sc, h, path, data) {
			return
		}
	}
}

// discard reads n bytes and drops them; false when the connection ended.
func (sc *sconn) discard(n uint32) bool {
	if _, err := io.CopyN(io.Discard, sc.rwc, int64(n)); err != nil {
		return false
	}
	return true
}

// handle answers one checked request; it reports false when the
// connection is to be closed once the reply is out.
func (s *Server) handle(sc *sconn, h [headerSize]byte, path string, data []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch h[0] {
	case cmdRead:
		if v, ok := s.db[path]; ok {
			sc.send(reply(h, respRead, v))
		} else {
			sc.send(reply(h, respNoEnt, nil))
		}
	case cmdWrite:
		switch {
		case sc.ro || bytes.IndexByte(data, 0) >= 0:
			sc.send(reply(h, respError, nil))
		case !insertable(path) || s.failWrite[path] > 0:
			// qubesdb_write failed: the reply, then the daemon gives the
			// client up.
			if s.failWrite[path] > 0 {
				s.failWrite[path]--
			}
			delete(s.conns, sc)
			sc.send(reply(h, respError, nil))
			return false
		default:
			s.db[path] = data
			sc.send(reply(h, respOK, nil)) // before the writer's own event
			s.fire(path)
		}
	case cmdMultiRead, cmdList:
		s.entries(sc, h, path)
	case cmdRm:
		switch {
		case sc.ro:
			sc.send(reply(h, respError, nil))
		case s.remove(path):
			// The reply, then the events, as for WRITE; a subtree fires
			// once, with its trailing '/'.
			sc.send(reply(h, respOK, nil))
			s.fire(path)
		default:
			sc.send(reply(h, respNoEnt, nil))
		}
	case cmdWatch:
		sc.watches = append(sc.watches, path)
		sc.send(reply(h, respOK, nil))
	case cmdUnwatch:
		if i := slices.Index(sc.watches, path); i >= 0 {
			sc.watches = slices.Delete(sc.watches, i, i+1)
			sc.send(reply(h, respOK, nil))
		} else {
			sc.send(reply(h, respNoEnt, nil))
		}
	}
	return true
}

// entries answers MULTIREAD and LIST as the daemon does, reusing one
// header: each entry's path is copied over it zero-filled, and the end
// marker zeroes only its first byte, so it still holds the last entry's
// path (or the request's when there was none). MULTIREAD of "" comes in
// reverse order.
func (s *Server) entries(sc *sconn, h [headerSize]byte, prefix string) {
	typ := byte(respList)
	if h[0] == cmdMultiRead {
		typ = respMulti
	}
	ks := s.keys(prefix)
	if typ == respMulti && prefix == "" {
		slices.Reverse(ks)
	}
	msgs := make([][]byte, 0, len(ks)+1)
	for _, k := range ks {
		clear(h[1 : 1+pathField])
		copy(h[1:1+pathField], k)
		var v []byte
		if typ == respMulti {
			v = s.db[k]
		}
		msgs = append(msgs, reply(h, typ, v))
	}
	h[1] = 0
	msgs = append(msgs, reply(h, typ, nil))
	sc.send(msgs...)
}

// reply is the request's header with its type and length changed, and
// the data after it.
func reply(h [headerSize]byte, typ byte, data []byte) []byte {
	h[0] = typ
	binary.NativeEndian.PutUint32(h[lenOffset:], uint32(len(data)))
	return append(h[:], data...)
}

// sconn is one connection and its queue of messages to send.
type sconn struct {
	rwc     io.ReadWriteCloser
	ro      bool
	watches []string // guarded by Server.mu

	qmu        sync.Mutex
	queue      [][]byte
	closeAfter bool
	wake       chan struct{} // capacity 1
	done       chan struct{}
	closeOnce  sync.Once
}

// send queues messages; it never blocks, whatever the client does.
func (sc *sconn) send(msgs ...[]byte) {
	sc.qmu.Lock()
	sc.queue = append(sc.queue, msgs...)
	sc.qmu.Unlock()
	sc.poke()
}

// closeWhenSent closes the connection once the messages queued have gone
// out, as the daemon wrote them before it read further.
func (sc *sconn) closeWhenSent() {
	sc.qmu.Lock()
	sc.closeAfter = true
	sc.qmu.Unlock()
	sc.poke()
}

func (sc *sconn) poke() {
	select {
	case sc.wake <- struct{}{}:
	default:
	}
}

func (sc *sconn) close() {
	sc.closeOnce.Do(func() {
		close(sc.done)
		sc.rwc.Close()
	})
}

// writeReplies sends the queue in order, each message in one write.
func (sc *sconn) writeReplies() {
	for {
		sc.qmu.Lock()
		msgs, last := sc.queue, sc.closeAfter
		sc.queue = nil
		sc.qmu.Unlock()
		for _, m := range msgs {
			if _, err := sc.rwc.Write(m); err != nil {
				sc.close()
				return
			}
		}
		if last {
			sc.close()
			return
		}
		if len(msgs) > 0 {
			continue
		}
		select {
		case <-sc.wake:
		case <-sc.done:
			return
		}
	}
}
