// Package adminapitest is an in-process qubesd for tests: it listens on a
// Unix socket, reads requests and writes answers in qubesd's exact
// framing, validates firewall rules and keeps each qube's list, as dom0
// does for the calls qfw makes.
package adminapitest

import (
	"bytes"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/backends/qubes/adminapi"
)

// Server is a fake qubesd.
type Server struct {
	// Path is the socket to connect to.
	Path string

	mu        sync.Mutex
	firewalls map[string][]string
	// Requests records every request, in order, as received.
	requests []adminapi.Request
}

// New starts a server with the given qubes and their firewall lists; it
// stops when the test ends.
func New(t testing.TB, firewalls map[string][]string) *Server {
	t.Helper()
	s := &Server{Path: filepath.Join(t.TempDir(), "qubesd.sock"), firewalls: map[string][]string{}}
	for q, rules := range firewalls {
		s.firewalls[q] = slices.Clone(rules)
	}
	l, err := net.Listen("unix", s.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

// Firewall returns qube's list as the server holds it.
func (s *Server) Firewall(qube string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.firewalls[qube])
}

// Requests returns the requests received so far.
func (s *Server) Requests() []adminapi.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func (s *Server) serve(c net.Conn) {
	defer c.Close()
	// qubesd reads to end of input, at most MaxRequest bytes, and aborts a
	// longer request without an answer.
	b, err := io.ReadAll(io.LimitReader(c, adminapi.MaxRequest+1))
	if err != nil || len(b) > adminapi.MaxRequest {
		return
	}
	r, err := adminapi.ParseRequest(b)
	if err != nil {
		return // a framing error: no answer
	}
	s.mu.Lock()
	s.requests = append(s.requests, *r)
	answer := s.handle(r)
	s.mu.Unlock()
	c.Write(answer)
}

// handle answers r; nil means no answer at all, as qubesd gives for an
// unhandled exception.
func (s *Server) handle(r *adminapi.Request) []byte {
	rules, known := s.firewalls[r.Dest]
	if r.Dest != "dom0" && !known {
		return adminapi.Raise("QubesVMNotFoundError", "No such domain: '"+r.Dest+"'")
	}
	switch r.Method {
	case "admin.vm.firewall.Get":
		var b bytes.Buffer
		for _, line := range rules {
			b.WriteString(line + "\n")
		}
		return adminapi.OK(b.Bytes())
	case "admin.vm.firewall.Set":
		if len(r.Payload) == 0 {
			return adminapi.Raise("ProtocolError", "expected payload")
		}
		var list []string
		for _, line := range strings.Split(strings.TrimSuffix(string(r.Payload), "\n"), "\n") {
			parsed, err := qubes.ParseRule(line)
			if err != nil {
				// dom0 raises a plain ValueError, which qubesd does not
				// answer at all.
				return nil
			}
			list = append(list, qubes.FormatRule(parsed))
		}
		s.firewalls[r.Dest] = list
		return adminapi.OK(nil)
	case "admin.vm.firewall.Reload":
		return adminapi.OK(nil)
	}
	return adminapi.Raise("ProtocolError", "no such method: "+r.Method)
}
