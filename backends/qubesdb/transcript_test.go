package qubesdb

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestTranscript holds the client to the real daemon's bytes (the
// transcript qubesdbtest replays): every request the client would send
// must encode to the recorded bytes, and every recorded reply must decode
// to an answer, never a protocol violation.
func TestTranscript(t *testing.T) {
	const name = "qubesdbtest/testdata/transcript.txt"
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		msgLine = regexp.MustCompile(`^([<>])([A-Z]) +(\S+) +path="(.*)" pad=(\S+) len=(\d+)(?: data=b'(.*)'(?:\*(\d+))?)?$`)
		hdrLine = regexp.MustCompile(`^     hdr=([0-9a-f?]{144})$`)
		endLine = regexp.MustCompile(`^(<([A-Z]) EOF|x([A-Z]) |\+([A-Z]) )`)
		rawLine = regexp.MustCompile(`^>([A-Z]) \(raw fragment, \d+ bytes\) ([0-9a-f]+)$`)
	)
	raw := map[string][]byte{} // per connection, a request sent in pieces
	type pending struct {
		o      op
		client bool // a request this client would send
		frames []frame
	}
	queues := map[string][]*pending{} // per connection, requests awaiting replies
	sc := bufio.NewScanner(f)
	n, requests, replies := 0, 0, 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if m := endLine.FindStringSubmatch(line); m != nil {
			delete(queues, m[2]+m[3]+m[4])
			continue
		}
		if m := rawLine.FindStringSubmatch(line); m != nil {
			b, err := hex.DecodeString(m[2])
			if err != nil {
				t.Fatalf("%s:%d: %v", name, n, err)
			}
			raw[m[1]] = append(raw[m[1]], b...)
			if r := raw[m[1]]; len(r) >= headerSize {
				// readFrame takes replies only: give it one to read the path.
				fr, err := readFrame(bytes.NewReader(append([]byte{respOK}, r[1:]...)))
				if err != nil {
					t.Fatalf("%s:%d: %v", name, n, err)
				}
				if len(r) == headerSize+len(fr.data) {
					queues[m[1]] = append(queues[m[1]], &pending{o: op{r[0], fr.path}})
					delete(raw, m[1])
				}
			}
			continue
		}
		m := msgLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if !sc.Scan() {
			t.Fatalf("%s:%d: message without its header line", name, n)
		}
		n++
		h := hdrLine.FindStringSubmatch(sc.Text())
		if h == nil {
			t.Fatalf("%s:%d: want the header line", name, n)
		}
		// Watch events' padding is uninitialised memory: any value will do.
		hdr, err := hex.DecodeString(strings.ReplaceAll(h[1], "??", "a5"))
		if err != nil {
			t.Fatalf("%s:%d: %v", name, n, err)
		}
		data := unquote(t, m[7])
		if m[8] != "" {
			k, _ := strconv.Atoi(m[8])
			data = bytes.Repeat(data, k)
		}
		conn := m[2]
		if m[1] == ">" {
			o := op{hdr[0], m[4]}
			p := &pending{o: o}
			// The client sends only commands, with valid paths, zero
			// padding and nothing after the path's NUL: those must match.
			if o.typ <= cmdUnwatch && requestCheck(o, data) == nil && m[5] == "000000" && !strings.Contains(o.path, `\x00`) {
				p.client = true
				requests++
				if got := encode(o.typ, o.path, data); !bytes.Equal(got, append(hdr, data...)) {
					t.Errorf("%s:%d: encode(%s, %q) =\n%x\nwant\n%x", name, n-1, typeName(o.typ), o.path, got, hdr)
				}
			}
			if o.typ == cmdRead && len(data) > 0 {
				continue // no reply: the daemon closes the connection
			}
			queues[conn] = append(queues[conn], p)
			continue
		}
		fr, err := readFrame(bytes.NewReader(append(hdr, data...)))
		if err != nil {
			t.Fatalf("%s:%d: readFrame: %v", name, n-1, err)
		}
		if fr.typ == respWatch {
			if _, err := watchEvent(fr); err != nil {
				t.Errorf("%s:%d: %v", name, n-1, err)
			}
			continue
		}
		q := queues[conn]
		if len(q) == 0 {
			t.Fatalf("%s:%d: reply with no request", name, n-1)
		}
		p := q[0]
		p.frames = append(p.frames, fr)
		if !p.o.last(fr) {
			continue
		}
		queues[conn] = q[1:]
		if !p.client {
			continue
		}
		replies++
		if _, err := interpret(p.o, p.frames); errors.Is(err, errProtocol) {
			t.Errorf("%s:%d: %v", name, n-1, err)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	// Guard against a parser that silently matches nothing.
	if requests < 70 || replies != requests {
		t.Fatalf("checked %d requests and %d replies", requests, replies)
	}
}

// requestCheck is the client's check of a request before it is sent.
func requestCheck(o op, data []byte) error {
	switch o.typ {
	case cmdRead:
		if len(data) > 0 {
			return errors.New("data")
		}
		return checkKey(o.path)
	case cmdWrite:
		if err := checkKey(o.path); err != nil {
			return err
		}
		return checkValue(data)
	case cmdMultiRead, cmdList:
		if len(data) > 0 {
			return errors.New("data")
		}
		return checkPrefix(o.path)
	}
	if len(data) > 0 {
		return errors.New("data")
	}
	return checkPath(o.path)
}

// unquote decodes the body of the transcript's Python bytes literals.
func unquote(t *testing.T, s string) []byte {
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out = append(out, s[i])
			continue
		}
		if i+4 <= len(s) && s[i+1] == 'x' {
			v, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
			if err != nil {
				t.Fatalf("bad escape in %q", s)
			}
			out = append(out, byte(v))
			i += 3
			continue
		}
		t.Fatalf("unknown escape in %q", s)
	}
	return out
}
