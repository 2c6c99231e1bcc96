package jsonfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qfw-dev/qfw/internal/words"
)

// Kind is the kind of a JSON value.
type Kind uint8

// The kinds of JSON values.
const (
	Null Kind = iota
	Bool
	Number
	String
	Array
	Object
)

// String names k as an error message says what it wants.
func (k Kind) String() string {
	return [...]string{"null", "true or false", "a number", "a string", "a list", "an object"}[k]
}

// Value is one value of a JSON document, with where it is in the file.
type Value struct {
	Kind     Kind
	Off, End int // where the value starts and ends in the document
	Bool     bool
	Num      string // a number, as written
	Str      string
	Elems    []*Value          // an array's elements
	Keys     []string          // an object's keys, in order
	Fields   map[string]*Value // an object's fields, by key
	KeyOff   map[string]int    // where each key of an object starts
}

// Doc is a JSON file being read.
type Doc struct {
	name string
	data []byte
}

// Parse reads data, from the file name, as one JSON value.
func Parse(name string, data []byte) (*Doc, *Value, error) {
	d := &Doc{name: name, data: data}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := d.value(dec, 0)
	if err != nil {
		return nil, nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, d.At(d.skip(int(dec.InputOffset())), "", "more after the JSON value")
	}
	return d, v, nil
}

// MaxSize bounds the files qfw reads back, far above any it writes:
// a device or a pipe given in their place could give bytes forever.
const MaxSize = 64 << 20

// ReadFile reads the file at path, of at most MaxSize bytes.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%s is over %d MiB, which no file qfw writes comes near", path, MaxSize>>20)
	}
	return b, nil
}

// maxJSONDepth bounds nesting, which no file qfw writes comes near.
const maxJSONDepth = 32

// skip returns the offset of the next token from off.
func (d *Doc) skip(off int) int {
	for off < len(d.data) && strings.IndexByte(" \t\r\n,:", d.data[off]) >= 0 {
		off++
	}
	return off
}

func (d *Doc) value(dec *json.Decoder, depth int) (*Value, error) {
	if depth > maxJSONDepth {
		return nil, d.At(d.skip(int(dec.InputOffset())), "", "values nested over %d deep", maxJSONDepth)
	}
	off := d.skip(int(dec.InputOffset()))
	tok, err := dec.Token()
	if err != nil {
		return nil, d.syntax(err, off)
	}
	v := &Value{Off: off}
	switch t := tok.(type) {
	case nil:
	case bool:
		v.Kind, v.Bool = Bool, t
	case json.Number:
		v.Kind, v.Num = Number, t.String()
	case string:
		v.Kind, v.Str = String, t
	case json.Delim:
		switch t {
		case '[':
			v.Kind = Array
			for dec.More() {
				e, err := d.value(dec, depth+1)
				if err != nil {
					return nil, err
				}
				v.Elems = append(v.Elems, e)
			}
		case '{':
			v.Kind, v.Fields, v.KeyOff = Object, map[string]*Value{}, map[string]int{}
			for dec.More() {
				koff := d.skip(int(dec.InputOffset()))
				k, err := dec.Token()
				if err != nil {
					return nil, d.syntax(err, koff)
				}
				key := k.(string)
				if _, dup := v.Fields[key]; dup {
					return nil, d.At(koff, "", "field %q appears twice", key)
				}
				e, err := d.value(dec, depth+1)
				if err != nil {
					return nil, err
				}
				v.Keys = append(v.Keys, key)
				v.Fields[key], v.KeyOff[key] = e, koff
			}
		}
		if _, err := dec.Token(); err != nil {
			return nil, d.syntax(err, d.skip(int(dec.InputOffset())))
		}
	}
	v.End = int(dec.InputOffset())
	return v, nil
}

// syntax turns the decoder's error into one at its place in the file.
func (d *Doc) syntax(err error, off int) error {
	var syntax *json.SyntaxError
	switch {
	case errors.As(err, &syntax):
		// A decoder reading token by token gives the offset of the
		// token it was in; a whole-document check gives the offset just
		// past the offending byte, which it names as a Latin-1
		// character even where it starts a UTF-8 one.
		var raw json.RawMessage
		if errors.As(json.Unmarshal(d.data, &raw), &syntax) {
			err = syntax
		}
		off := max(int(syntax.Offset)-1, 0)
		switch {
		case off == 0 && bytes.HasPrefix(d.data, []byte("\ufeff")):
			return d.At(off, "", "invalid JSON: the file starts with a byte order mark; save it as UTF-8 without one")
		case off < len(d.data) && d.data[off] >= 0x80:
			return d.At(off, "", "invalid JSON: a non-ASCII character outside a string")
		}
		return d.At(off, "", "invalid JSON: %v", err)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return d.At(len(d.data), "", "invalid JSON: the file ends before the JSON value does")
	}
	return d.At(off, "", "invalid JSON: %v", err)
}

// Raw returns the bytes of v as the file has them.
func (d *Doc) Raw(v *Value) []byte { return d.data[v.Off:v.End] }

// Pos returns the line and column, from 1, of offset off.
func (d *Doc) Pos(off int) (line, col int) {
	off = min(off, len(d.data))
	before := d.data[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = off - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// At returns an error at offset off of the file, about the value at path.
func (d *Doc) At(off int, path, format string, args ...any) error {
	line, col := d.Pos(off)
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	return fmt.Errorf("%s:%d:%d: %s", d.name, line, col, msg)
}

// Errorf returns an error about v, at path.
func (d *Doc) Errorf(v *Value, path, format string, args ...any) error {
	return d.At(v.Off, path, format, args...)
}

// Want returns an error unless v, at path, is of the kind given.
func (d *Doc) Want(v *Value, path string, kind Kind) error {
	if v.Kind != kind {
		return d.Errorf(v, path, "want %s, not %s", kind, v.Kind)
	}
	return nil
}

// Object checks that v is an object with the fields required and no
// fields but those and optional.
func (d *Doc) Object(v *Value, path string, required, optional []string) error {
	if err := d.Want(v, path, Object); err != nil {
		return err
	}
	for _, k := range v.Keys {
		if !slices.Contains(required, k) && !slices.Contains(optional, k) {
			known := slices.Concat(required, optional)
			return d.At(v.KeyOff[k], Join(path, k), "unknown field; want %s", words.Or(Quoted(known)))
		}
	}
	for _, k := range required {
		if _, ok := v.Fields[k]; !ok {
			if path == "" {
				return d.Errorf(v, "", "the file has no field %q", k)
			}
			return d.Errorf(v, path, "no field %q", k)
		}
	}
	return nil
}

// Str returns v, at path, as a string.
func (d *Doc) Str(v *Value, path string) (string, error) {
	return v.Str, d.Want(v, path, String)
}

// Boolean returns v, at path, as true or false.
func (d *Doc) Boolean(v *Value, path string) (bool, error) {
	return v.Bool, d.Want(v, path, Bool)
}

// Integer returns v as an integer from lo to hi.
func (d *Doc) Integer(v *Value, path string, lo, hi int) (int, error) {
	if err := d.Want(v, path, Number); err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v.Num)
	if err != nil || n < lo || n > hi {
		return 0, d.Errorf(v, path, "%s is not a whole number from %d to %d", v.Num, lo, hi)
	}
	return n, nil
}

// Timestamp returns v as an RFC 3339 time.
func (d *Doc) Timestamp(v *Value, path string) (time.Time, error) {
	s, err := d.Str(v, path)
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, d.Errorf(v, path, "%q is not an RFC 3339 time such as 2027-01-31T18:00:00Z", s)
	}
	return t, nil
}

// StringList returns v as a list of strings.
func (d *Doc) StringList(v *Value, path string) ([]string, error) {
	if err := d.Want(v, path, Array); err != nil {
		return nil, err
	}
	out := make([]string, len(v.Elems))
	for i, e := range v.Elems {
		s, err := d.Str(e, Index(path, i))
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// SHA256 returns v as a SHA-256 hash, written as qfw writes them.
func (d *Doc) SHA256(v *Value, path string) (string, error) {
	s, err := d.Str(v, path)
	if err != nil {
		return "", err
	}
	if !IsSHA256(s) {
		return "", d.Errorf(v, path, "%q is not a SHA-256 hash in 64 lowercase hex digits", s)
	}
	return s, nil
}

// IsSHA256 reports whether s is a SHA-256 digest in lowercase hex, as
// qfw writes them.
func IsSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Join returns the path of the field key of the value at path.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Index returns the path of element i of the array at path.
func Index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// Quoted returns each of names in Go's quotes.
func Quoted(names []string) []string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return q
}
