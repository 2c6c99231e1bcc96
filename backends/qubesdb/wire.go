package qubesdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The daemon's limits (include/qubesdb.h, daemon/db-cmds.c).
const (
	// MaxPath is the longest path in characters: the header's path field
	// holds 64 bytes including the terminating NUL.
	MaxPath = 63
	// MaxValue is the longest value in bytes: the daemon refuses a data
	// length of 3072 or more, although its documentation says 3072.
	MaxValue = 3071
)

// Message types (include/qubesdb.h, enum qdb_msg).
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
)

// Header layout: struct qdb_hdr is not packed, so data_len is aligned to 4
// and three padding bytes follow the path.
const (
	headerSize = 72
	pathField  = 64 // bytes 1..64
	lenOffset  = 68
)

// typeName names a message type for errors.
func typeName(t byte) string {
	names := [...]string{"READ", "WRITE", "MULTIREAD", "LIST", "RM", "WATCH", "UNWATCH",
		"RESP_OK", "RESP_ERROR_NOENT", "RESP_ERROR", "RESP_READ", "RESP_MULTIREAD", "RESP_LIST", "RESP_WATCH"}
	if int(t) < len(names) {
		return names[t]
	}
	return fmt.Sprintf("type %d", t)
}

// encode returns one whole message: header and data in one buffer, so that
// it goes out in one write. The path must have been checked.
func encode(typ byte, path string, data []byte) []byte {
	msg := make([]byte, headerSize+len(data))
	msg[0] = typ
	copy(msg[1:1+pathField], path)
	binary.NativeEndian.PutUint32(msg[lenOffset:], uint32(len(data)))
	copy(msg[headerSize:], data)
	return msg
}

// frame is one message from the daemon, checked.
type frame struct {
	typ  byte
	path string // up to the first NUL of the path field; "" for an end marker
	data []byte
}

// errProtocol marks a message that breaks the protocol: the connection
// cannot be trusted to be in step any more.
var errProtocol = errors.New("protocol violation")

func protocolErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errProtocol, fmt.Sprintf(format, args...))
}

// readFrame reads one message and checks what can be checked without
// knowing the request: a known reply type, a data length within the
// daemon's limit (checked before anything is allocated for it) and a path
// that ends with a NUL inside its field. The bytes after the NUL and the
// padding are the request's echoed back, or uninitialised memory in watch
// events, and are ignored.
func readFrame(r io.Reader) (frame, error) {
	var hdr [headerSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return frame{}, protocolErr("connection closed inside a message header")
		}
		return frame{}, err
	}
	f := frame{typ: hdr[0]}
	if f.typ < respOK || f.typ > respWatch {
		return frame{}, protocolErr("daemon sent %s, not a reply", typeName(f.typ))
	}
	n := binary.NativeEndian.Uint32(hdr[lenOffset:])
	if n > MaxValue {
		return frame{}, protocolErr("%s carries %d bytes, more than the limit of %d", typeName(f.typ), n, MaxValue)
	}
	field := hdr[1 : 1+pathField]
	end := bytes.IndexByte(field, 0)
	if end < 0 {
		return frame{}, protocolErr("%s has a path without its terminating NUL", typeName(f.typ))
	}
	f.path = string(field[:end])
	if n > 0 {
		f.data = make([]byte, n)
		if _, err := io.ReadFull(r, f.data); err != nil {
			return frame{}, protocolErr("connection closed inside the data of %s", typeName(f.typ))
		}
	}
	return f, nil
}

// checkPath enforces the daemon's path rules before anything is sent: at
// most MaxPath characters from [A-Za-z0-9_/.:@-] and a leading '/' (the
// daemon's own check lets "noslash" through, then its database refuses to
// write it and drops the connection).
func checkPath(path string) error {
	if path == "" {
		return errors.New("empty path")
	}
	if len(path) > MaxPath {
		return fmt.Errorf("path is %d characters, the limit is %d", len(path), MaxPath)
	}
	if path[0] != '/' {
		return errors.New("path does not start with /")
	}
	for i := 0; i < len(path); i++ {
		if !pathByte(path[i]) {
			return fmt.Errorf("path has %q at character %d; allowed are A-Z a-z 0-9 and _/.:@-", path[i], i+1)
		}
	}
	return nil
}

// checkPrefix is checkPath for MULTIREAD and LIST, where "" stands for the
// whole database.
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return checkPath(prefix)
}

// checkKey is checkPath for a single key, which cannot end in '/': READ
// answers "not found" and WRITE fails in the database and drops the
// connection.
func checkKey(path string) error {
	if err := checkPath(path); err != nil {
		return err
	}
	if strings.HasSuffix(path, "/") {
		return errors.New("path ends in /, which names a directory, not a key")
	}
	return nil
}

func checkValue(value []byte) error {
	if len(value) > MaxValue {
		return fmt.Errorf("value is %d bytes, the limit is %d", len(value), MaxValue)
	}
	if i := bytes.IndexByte(value, 0); i >= 0 {
		return fmt.Errorf("value has a NUL byte at offset %d", i)
	}
	return nil
}

func pathByte(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("_/.:@-", b) >= 0
}
