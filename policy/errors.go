package policy

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/token"
)

// posError is an error about one place in a policy. It implements the
// cue/errors Error interface, so that errors from CUE and errors from qfw's
// own checks are printed and sorted by one printer.
type posError struct {
	pos token.Pos
	// inputs are further positions the error is about, such as the other
	// side of a conflict.
	inputs []token.Pos
	// rawPath is the path as [Errorf] received it, split into selectors
	// only when the error is printed or asked for its path (see elems),
	// not for every diagnostic a compile makes. path holds selectors given
	// whole instead, when rawPath is "".
	rawPath string
	path    []string
	format  string
	args    []any
	// kind is the kind of a warning (see [Warnf]); empty for an error.
	kind Kind
}

// Errorf returns an error at pos about the value at path (a CUE path made
// by [Path], or "" for none).
func Errorf(pos token.Pos, path string, format string, args ...any) errors.Error {
	return &posError{pos: pos, rawPath: path, format: format, args: args}
}

// elems returns the selectors of e's path. It splits rawPath anew on
// each call rather than keep the result, so that errors stay plain values
// that may be copied and read from several goroutines.
func (e *posError) elems() []string {
	path := e.rawPath
	if path == "" {
		return e.path
	}
	if p := cue.ParsePath(path); p.Err() == nil {
		sels := p.Selectors()
		if len(sels) == 0 {
			return nil
		}
		elems := make([]string, len(sels))
		for i, sel := range sels {
			elems[i] = sel.String()
		}
		return elems
	}
	// CUE does not parse every path it prints, such as one through an
	// empty name: keep it whole.
	return []string{path}
}

// ErrorfAlso is Errorf for an error that is about further places too,
// such as the rules that shadow the one at pos.
func ErrorfAlso(pos token.Pos, also []token.Pos, path string, format string, args ...any) errors.Error {
	e := Errorf(pos, path, format, args...).(*posError)
	e.inputs = also
	return e
}

// Path returns the CUE path of the given field names (strings) and list
// indices (ints), with names quoted where CUE needs it, as in
// qubes."sys-vpn".allow.dns. It writes what cue.Path's String does, without
// making selectors: the compiler asks for the path of every rule.
func Path(elems ...any) string {
	var b strings.Builder
	for i, e := range elems {
		switch e := e.(type) {
		case int:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(e))
			b.WriteByte(']')
		case string:
			if i > 0 {
				b.WriteByte('.')
			}
			if ast.StringLabelNeedsQuoting(e) {
				e = literal.Label.Quote(e)
			}
			b.WriteString(e)
		default:
			panic(fmt.Sprintf("policy.Path: element %v is neither a field name nor an index", e))
		}
	}
	return b.String()
}

func (e *posError) Position() token.Pos         { return e.pos }
func (e *posError) InputPositions() []token.Pos { return e.inputs }
func (e *posError) Path() []string              { return e.elems() }
func (e *posError) Msg() (string, []any)        { return e.format, e.args }

func (e *posError) Error() string {
	msg := fmt.Sprintf(e.format, e.args...)
	if path := e.elems(); len(path) > 0 {
		msg = strings.Join(path, ".") + ": " + msg
	}
	if e.pos.IsValid() {
		return e.pos.String() + ": " + msg
	}
	return msg
}

// SortErrors sorts diagnostics by file, position, then message, so that
// output does not depend on the order in which they were found.
func SortErrors(es []errors.Error) {
	sort.SliceStable(es, func(i, j int) bool {
		pi, pj := es[i].Position(), es[j].Position()
		if pi.Filename() != pj.Filename() {
			return pi.Filename() < pj.Filename()
		}
		if pi.Offset() != pj.Offset() {
			return pi.Offset() < pj.Offset()
		}
		return es[i].Error() < es[j].Error()
	})
}
