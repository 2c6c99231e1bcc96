package qubesdbtest_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/backends/qubesdb/qubesdbtest"
)

// The transcript of the real qubesdb-daemon v4.3.3 (testdata/transcript.txt,
// a copy of the project's reference) is replayed against the server: every
// message sent as recorded, every byte received compared, the padding of
// watch events (uninitialised memory in the daemon, "??" in the
// transcript) masked.

// step is one line of the transcript.
type step struct {
	line int
	kind byte   // '>' send, '<' receive, '.' silence, 'x' close, '+' reconnect
	conn string // connection letter
	msg  []byte // for '>' and '<': the whole message; nil for "<X EOF"
	mask []bool // for '<': bytes not to compare
}

var (
	msgLine  = regexp.MustCompile(`^([<>])([A-Z]) +([A-Z_0-9]+) +path="(.*)" pad=(\S+) len=(\d+)(?: data=(.*))?$`)
	hdrLine  = regexp.MustCompile(`^     hdr=([0-9a-f?]{144})$`)
	rawLine  = regexp.MustCompile(`^>([A-Z]) \(raw fragment, (\d+) bytes\) ([0-9a-f]+)$`)
	eofLine  = regexp.MustCompile(`^<([A-Z]) EOF \(daemon closed the connection\)$`)
	quiet    = regexp.MustCompile(`^\.([A-Z]) \(nothing more within [0-9.]+s\)$`)
	closed   = regexp.MustCompile(`^x([A-Z]) closed by the client$`)
	reopened = regexp.MustCompile(`^\+([A-Z]) reconnected \(new connection\)$`)
)

func parseTranscript(t *testing.T, name string) []step {
	t.Helper()
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	var steps []step
	for i := 0; i < len(lines); i++ {
		l, n := lines[i], i+1
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if m := msgLine.FindStringSubmatch(l); m != nil {
			if i+1 >= len(lines) {
				t.Fatalf("%s:%d: message without its header line", name, n)
			}
			h := hdrLine.FindStringSubmatch(lines[i+1])
			if h == nil {
				t.Fatalf("%s:%d: want the header line, have %q", name, n+1, lines[i+1])
			}
			i++
			hdr, mask := decodeMasked(t, name, n+1, h[1])
			size, _ := strconv.Atoi(m[6])
			data := []byte{}
			if m[7] != "" {
				data = pyBytes(t, name, n, m[7])
			}
			if len(data) != size {
				t.Fatalf("%s:%d: len=%d but %d bytes of data", name, n, size, len(data))
			}
			if got := int(hdr[68]) | int(hdr[69])<<8 | int(hdr[70])<<16 | int(hdr[71])<<24; got != size {
				t.Fatalf("%s:%d: header says %d bytes, line says %d", name, n, got, size)
			}
			s := step{line: n, kind: m[1][0], conn: m[2], msg: append(hdr, data...)}
			if s.kind == '<' {
				s.mask = append(mask, make([]bool, len(data))...)
			}
			steps = append(steps, s)
			continue
		}
		if m := rawLine.FindStringSubmatch(l); m != nil {
			b, err := hex.DecodeString(m[3])
			if err != nil || strconv.Itoa(len(b)) != m[2] {
				t.Fatalf("%s:%d: bad raw fragment", name, n)
			}
			steps = append(steps, step{line: n, kind: '>', conn: m[1], msg: b})
			continue
		}
		matched := false
		for _, p := range []struct {
			re   *regexp.Regexp
			kind byte
		}{{eofLine, '<'}, {quiet, '.'}, {closed, 'x'}, {reopened, '+'}} {
			if m := p.re.FindStringSubmatch(l); m != nil {
				steps = append(steps, step{line: n, kind: p.kind, conn: m[1]})
				matched = true
				break
			}
		}
		if !matched {
			t.Fatalf("%s:%d: cannot read %q", name, n, l)
		}
	}
	return steps
}

// decodeMasked decodes hex in which "??" stands for a byte of any value.
func decodeMasked(t *testing.T, name string, line int, s string) ([]byte, []bool) {
	b := make([]byte, len(s)/2)
	mask := make([]bool, len(s)/2)
	for i := range b {
		pair := s[2*i : 2*i+2]
		if pair == "??" {
			mask[i] = true
			continue
		}
		v, err := strconv.ParseUint(pair, 16, 8)
		if err != nil {
			t.Fatalf("%s:%d: bad hex %q", name, line, pair)
		}
		b[i] = byte(v)
	}
	return b, mask
}

// pyBytes reads the Python bytes literals of the transcript: b'...' with
// backslash escapes, optionally repeated as b'v'*3071.
func pyBytes(t *testing.T, name string, line int, s string) []byte {
	rep := 1
	if i := strings.LastIndex(s, "*"); i > 0 && strings.HasSuffix(s[:i], "'") {
		n, err := strconv.Atoi(s[i+1:])
		if err != nil {
			t.Fatalf("%s:%d: bad repeat in %q", name, line, s)
		}
		s, rep = s[:i], n
	}
	if len(s) < 3 || !strings.HasPrefix(s, "b'") || !strings.HasSuffix(s, "'") {
		t.Fatalf("%s:%d: bad bytes literal %q", name, line, s)
	}
	body := s[2 : len(s)-1]
	var out []byte
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i+1 >= len(body) {
			t.Fatalf("%s:%d: bad escape in %q", name, line, s)
		}
		i++
		switch body[i] {
		case 'x':
			if i+3 > len(body) {
				t.Fatalf("%s:%d: bad escape in %q", name, line, s)
			}
			v, err := strconv.ParseUint(body[i+1:i+3], 16, 8)
			if err != nil {
				t.Fatalf("%s:%d: bad escape in %q", name, line, s)
			}
			out = append(out, byte(v))
			i += 2
		case 'n':
			out = append(out, '\n')
		case 't':
			out = append(out, '\t')
		case 'r':
			out = append(out, '\r')
		case '\\', '\'', '"':
			out = append(out, body[i])
		default:
			t.Fatalf("%s:%d: bad escape in %q", name, line, s)
		}
	}
	return bytes.Repeat(out, rep)
}

func TestTranscript(t *testing.T) {
	const name = "testdata/transcript.txt"
	steps := parseTranscript(t, name)
	srv, err := qubesdbtest.NewServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	conns := map[string]net.Conn{}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	get := func(letter string) net.Conn {
		if c, ok := conns[letter]; ok {
			return c
		}
		path := srv.Path()
		if letter == "R" { // section 15: the read-only socket
			path = srv.ROPath()
		}
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		conns[letter] = c
		return c
	}

	for i := 0; i < len(steps); i++ {
		s := steps[i]
		where := fmt.Sprintf("%s:%d", name, s.line)
		switch s.kind {
		case '>':
			// Requests that follow one another on one connection went in
			// one send (section 16); so do they here.
			msg := s.msg
			for i+1 < len(steps) && steps[i+1].kind == '>' && steps[i+1].conn == s.conn {
				i++
				msg = append(bytes.Clone(msg), steps[i].msg...)
			}
			if _, err := get(s.conn).Write(msg); err != nil {
				t.Fatalf("%s: send: %v", where, err)
			}
		case '<':
			c := get(s.conn)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if s.msg == nil {
				var b [1]byte
				n, err := c.Read(b[:])
				if n != 0 || !(errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
					t.Fatalf("%s: want the connection closed, have %d bytes, %v", where, n, err)
				}
				continue
			}
			got := make([]byte, len(s.msg))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatalf("%s: receive: %v", where, err)
			}
			for j := range got {
				if !s.mask[j] && got[j] != s.msg[j] {
					t.Fatalf("%s: byte %d differs\nhave %x\nwant %x", where, j, got, s.msg)
				}
			}
		case '.':
			c := get(s.conn)
			c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
			var b [1]byte
			if n, err := c.Read(b[:]); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("%s: want nothing more, have %d bytes, %v", where, n, err)
			}
		case 'x', '+':
			if c, ok := conns[s.conn]; ok {
				c.Close()
				delete(conns, s.conn)
			}
		}
	}
}
