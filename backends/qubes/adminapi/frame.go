package adminapi

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// MaxRequest is the most bytes qubesd reads of a request, header and
// payload together; it aborts a longer one without an answer.
const MaxRequest = 65536

// MaxNameLen is the longest name Qubes gives a qube.
const MaxNameLen = 31

// longestSource stands for the calling qube when its name is unknown.
var longestSource = strings.Repeat("q", MaxNameLen)

// Request is one Admin API call.
type Request struct {
	Method string
	Arg    string
	// Source is the calling qube: dom0 for local tools.
	Source string
	// Dest is the qube the call is about, dom0 for global calls.
	Dest    string
	Payload []byte
}

// Header returns the request's header, NUL included, as qubesadmin's
// local client writes it: the destination always by name, dom0 too.
func (r *Request) Header() []byte {
	return []byte(r.Method + "+" + r.Arg + " " + r.Source + " name " + r.Dest + "\x00")
}

// Encode returns the request as qubesd reads it.
func (r *Request) Encode() []byte { return append(r.Header(), r.Payload...) }

// Len returns the bytes r takes on the wire as it is, without encoding it.
func (r *Request) Len() int { return len(r.Header()) + len(r.Payload) }

// WorstCaseLen returns the most bytes r can take on the wire from any
// caller. Over qrexec dom0 writes the caller's name into the header, so the
// length counts a source of MaxNameLen characters unless r's is longer: a
// request that fits by this count fits from dom0 and from every
// management qube.
func (r *Request) WorstCaseLen() int {
	w := *r
	if len(w.Source) < MaxNameLen {
		w.Source = longestSource
	}
	return w.Len()
}

// ParseRequest parses a request as qubesd does; it is for the test server.
func ParseRequest(b []byte) (*Request, error) {
	header, payload, ok := bytes.Cut(b, []byte{0})
	if !ok {
		return nil, errors.New("framing error: no NUL after the header")
	}
	// qubesd decodes the header as ASCII.
	for _, c := range header {
		if c >= 0x80 {
			return nil, fmt.Errorf("framing error: header %q is not ASCII", header)
		}
	}
	// qubesd splits on single spaces, so a doubled one is an empty field.
	f := bytes.Split(header, []byte(" "))
	if len(f) != 4 {
		return nil, fmt.Errorf("framing error: header %q has %d fields, want 4", header, len(f))
	}
	method, arg, ok := bytes.Cut(f[0], []byte("+"))
	if !ok {
		return nil, fmt.Errorf("framing error: no + in %q", f[0])
	}
	r := &Request{Method: string(method), Arg: string(arg), Source: string(f[1]), Payload: payload}
	switch string(f[2]) {
	case "name":
		r.Dest = string(f[3])
	case "keyword":
		// qrexec names dom0 so, for calls to @adminvm.
		if string(f[3]) != "adminvm" {
			return nil, fmt.Errorf("framing error: keyword %q", f[3])
		}
		r.Dest = "dom0"
	default:
		return nil, fmt.Errorf("framing error: destination type %q", f[2])
	}
	return r, nil
}

// Exception is an exception qubesd reported.
type Exception struct {
	// Type is the Python exception class, such as QubesVMNotFoundError.
	Type    string
	Message string
}

func (e *Exception) Error() string {
	// qubesd raises some, PermissionDenied among them, without a message.
	if e.Message == "" {
		return e.Type
	}
	return e.Type + ": " + e.Message
}

// ErrEmptyResponse is qubesd's empty answer: it aborted the call without
// saying why (the dom0 journal does). For admin.vm.firewall.Set it means
// a rule qubesd refused.
var ErrEmptyResponse = errors.New("qubesd answered nothing: it could not handle the call (see journalctl in dom0)")

// ParseResponse returns the content of a successful answer, or the
// exception or error an unsuccessful one stands for.
func ParseResponse(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, ErrEmptyResponse
	}
	if len(b) < 2 || b[1] != 0 {
		return nil, fmt.Errorf("malformed answer from qubesd: %q", head(b))
	}
	switch b[0] {
	case '0':
		return b[2:], nil
	case '2':
		// Type, traceback, message and any fields, each ended by NUL.
		parts := bytes.Split(b[2:], []byte{0})
		if len(parts) < 4 || len(parts[len(parts)-1]) != 0 || len(parts[0]) == 0 {
			return nil, fmt.Errorf("malformed exception from qubesd: %q", head(b))
		}
		return nil, &Exception{Type: string(parts[0]), Message: string(parts[2])}
	}
	return nil, fmt.Errorf("unexpected answer type %q from qubesd", b[0])
}

// OK and Raise encode answers; they are for the test server.
func OK(content []byte) []byte { return append([]byte("0\x00"), content...) }

// Raise encodes an exception answer, with an empty traceback.
func Raise(typ, message string) []byte {
	return []byte("2\x00" + typ + "\x00\x00" + message + "\x00")
}

func head(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
