package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The files qfw writes for itself and reads back (saved plans, state
// files, apply records) come back as hostile input: anyone may have edited
// them. They are read as a tree of JSON values that remember where they
// start, so that every mistake, down to an unknown or repeated field, is
// reported at its line and column with the field's path, in qfw's words.

type jsonKind uint8

const (
	jsonNull jsonKind = iota
	jsonBool
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

func (k jsonKind) String() string {
	return [...]string{"null", "true or false", "a number", "a string", "a list", "an object"}[k]
}

// jsonValue is one value of a JSON document.
type jsonValue struct {
	kind     jsonKind
	off, end int // where the value starts and ends in the document
	b        bool
	num      string
	str      string
	elems    []*jsonValue
	keys     []string // an object's keys, in order
	fields   map[string]*jsonValue
	keyOff   map[string]int
}

// jsonDoc is a JSON file being read.
type jsonDoc struct {
	name string
	data []byte
}

// parseJSONDoc reads data, from the file name, as one JSON value.
func parseJSONDoc(name string, data []byte) (*jsonDoc, *jsonValue, error) {
	d := &jsonDoc{name: name, data: data}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := d.value(dec, 0)
	if err != nil {
		return nil, nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, d.at(d.skip(int(dec.InputOffset())), "", "more after the JSON value")
	}
	return d, v, nil
}

// maxInputFile bounds the files qfw reads back, far above any it writes:
// a device or a pipe given in their place could give bytes forever.
const maxInputFile = 64 << 20

// readInput reads the file at path, of at most maxInputFile bytes.
func readInput(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxInputFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxInputFile {
		return nil, fmt.Errorf("%s is over %d MiB, which no file qfw writes comes near", path, maxInputFile>>20)
	}
	return b, nil
}

// maxJSONDepth bounds nesting, which no file qfw writes comes near.
const maxJSONDepth = 32

// skip returns the offset of the next token from off.
func (d *jsonDoc) skip(off int) int {
	for off < len(d.data) && strings.IndexByte(" \t\r\n,:", d.data[off]) >= 0 {
		off++
	}
	return off
}

func (d *jsonDoc) value(dec *json.Decoder, depth int) (*jsonValue, error) {
	if depth > maxJSONDepth {
		return nil, d.at(d.skip(int(dec.InputOffset())), "", "values nested over %d deep", maxJSONDepth)
	}
	off := d.skip(int(dec.InputOffset()))
	tok, err := dec.Token()
	if err != nil {
		return nil, d.syntax(err, off)
	}
	v := &jsonValue{off: off}
	switch t := tok.(type) {
	case nil:
	case bool:
		v.kind, v.b = jsonBool, t
	case json.Number:
		v.kind, v.num = jsonNumber, t.String()
	case string:
		v.kind, v.str = jsonString, t
	case json.Delim:
		switch t {
		case '[':
			v.kind = jsonArray
			for dec.More() {
				e, err := d.value(dec, depth+1)
				if err != nil {
					return nil, err
				}
				v.elems = append(v.elems, e)
			}
		case '{':
			v.kind, v.fields, v.keyOff = jsonObject, map[string]*jsonValue{}, map[string]int{}
			for dec.More() {
				koff := d.skip(int(dec.InputOffset()))
				k, err := dec.Token()
				if err != nil {
					return nil, d.syntax(err, koff)
				}
				key := k.(string)
				if _, dup := v.fields[key]; dup {
					return nil, d.at(koff, "", "field %q appears twice", key)
				}
				e, err := d.value(dec, depth+1)
				if err != nil {
					return nil, err
				}
				v.keys = append(v.keys, key)
				v.fields[key], v.keyOff[key] = e, koff
			}
		}
		if _, err := dec.Token(); err != nil {
			return nil, d.syntax(err, d.skip(int(dec.InputOffset())))
		}
	}
	v.end = int(dec.InputOffset())
	return v, nil
}

// syntax turns the decoder's error into one at its place in the file.
func (d *jsonDoc) syntax(err error, off int) error {
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
			return d.at(off, "", "invalid JSON: the file starts with a byte order mark; save it as UTF-8 without one")
		case off < len(d.data) && d.data[off] >= 0x80:
			return d.at(off, "", "invalid JSON: a non-ASCII character outside a string")
		}
		return d.at(off, "", "invalid JSON: %v", err)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return d.at(len(d.data), "", "invalid JSON: the file ends before the JSON value does")
	}
	return d.at(off, "", "invalid JSON: %v", err)
}

// pos returns the line and column, from 1, of offset off.
func (d *jsonDoc) pos(off int) (line, col int) {
	off = min(off, len(d.data))
	before := d.data[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = off - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// at returns an error at offset off of the file, about the value at path.
func (d *jsonDoc) at(off int, path, format string, args ...any) error {
	line, col := d.pos(off)
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	return fmt.Errorf("%s:%d:%d: %s", d.name, line, col, msg)
}

// errorf returns an error about v, at path.
func (d *jsonDoc) errorf(v *jsonValue, path, format string, args ...any) error {
	return d.at(v.off, path, format, args...)
}

func (d *jsonDoc) want(v *jsonValue, path string, kind jsonKind) error {
	if v.kind != kind {
		return d.errorf(v, path, "want %s, not %s", kind, v.kind)
	}
	return nil
}

// object checks that v is an object with the fields required and no
// fields but those and optional.
func (d *jsonDoc) object(v *jsonValue, path string, required, optional []string) error {
	if err := d.want(v, path, jsonObject); err != nil {
		return err
	}
	for _, k := range v.keys {
		if !slices.Contains(required, k) && !slices.Contains(optional, k) {
			known := slices.Concat(required, optional)
			return d.at(v.keyOff[k], join(path, k), "unknown field; want %s", orList(quoted(known)))
		}
	}
	for _, k := range required {
		if _, ok := v.fields[k]; !ok {
			if path == "" {
				return d.errorf(v, "", "the file has no field %q", k)
			}
			return d.errorf(v, path, "no field %q", k)
		}
	}
	return nil
}

func (d *jsonDoc) str(v *jsonValue, path string) (string, error) {
	return v.str, d.want(v, path, jsonString)
}

func (d *jsonDoc) boolean(v *jsonValue, path string) (bool, error) {
	return v.b, d.want(v, path, jsonBool)
}

// integer returns v as an integer from lo to hi.
func (d *jsonDoc) integer(v *jsonValue, path string, lo, hi int) (int, error) {
	if err := d.want(v, path, jsonNumber); err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v.num)
	if err != nil || n < lo || n > hi {
		return 0, d.errorf(v, path, "%s is not a whole number from %d to %d", v.num, lo, hi)
	}
	return n, nil
}

// timestamp returns v as an RFC 3339 time.
func (d *jsonDoc) timestamp(v *jsonValue, path string) (time.Time, error) {
	s, err := d.str(v, path)
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, d.errorf(v, path, "%q is not an RFC 3339 time such as 2027-01-31T18:00:00Z", s)
	}
	return t, nil
}

// stringList returns v as a list of strings.
func (d *jsonDoc) stringList(v *jsonValue, path string) ([]string, error) {
	if err := d.want(v, path, jsonArray); err != nil {
		return nil, err
	}
	out := make([]string, len(v.elems))
	for i, e := range v.elems {
		s, err := d.str(e, index(path, i))
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// sha256 returns v as a SHA-256 hash, written as qfw writes them.
func (d *jsonDoc) sha256(v *jsonValue, path string) (string, error) {
	s, err := d.str(v, path)
	if err != nil {
		return "", err
	}
	if !sha256Hex(s) {
		return "", d.errorf(v, path, "%q is not a SHA-256 hash in 64 lowercase hex digits", s)
	}
	return s, nil
}

// sha256Hex reports whether s is a SHA-256 digest in lowercase hex, as
// qfw writes them.
func sha256Hex(s string) bool {
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

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// quoted returns each of names in Go's quotes.
func quoted(names []string) []string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return q
}

// checkOutFile checks that path, the --out of a command, is absent or a
// regular file that holds what the command writes, a JSON object that
// ours accepts; what says what that is, in the error.
// stdout says where the output goes without --out, for a pipe or a
// device, which reading would wait on.
func checkOutFile(path, what, stdout string, ours func(root *jsonValue) bool) error {
	if path == "" {
		return nil
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err == nil && !fi.Mode().IsRegular():
		return fmt.Errorf("--out %s: not a regular file; %s", path, stdout)
	}
	b, err := readInput(path)
	if err == nil {
		var d *jsonDoc
		var root *jsonValue
		if d, root, err = parseJSONDoc(path, b); err == nil {
			err = d.want(root, "", jsonObject)
		}
		if err == nil && ours(root) {
			return nil
		}
	}
	return fmt.Errorf("--out %s: the file exists and is not %s", path, what)
}

// QubeNameRule says, after "not a qube name: ", which names dom0 takes,
// as policy.IsQubeName checks them.
const QubeNameRule = `up to 31 letters, digits, "_", "." and "-", starting with a letter, neither none nor default, not ending in -dm`

// orList joins words as "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
