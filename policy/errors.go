package policy

import (
	"fmt"
	"strings"

	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"
)

// posError is an error about one place in a policy. It implements the
// cue/errors Error interface, so that errors from CUE and errors from qfw's
// own checks are printed and sorted by one printer.
type posError struct {
	pos    token.Pos
	path   []string
	format string
	args   []any
}

// Errorf returns an error at pos about the value at path (a dotted CUE path
// such as "qubes.work.allow.git.to", or "" for none).
func Errorf(pos token.Pos, path string, format string, args ...any) errors.Error {
	var p []string
	if path != "" {
		p = strings.Split(path, ".")
	}
	return &posError{pos: pos, path: p, format: format, args: args}
}

func (e *posError) Position() token.Pos         { return e.pos }
func (e *posError) InputPositions() []token.Pos { return nil }
func (e *posError) Path() []string              { return e.path }
func (e *posError) Msg() (string, []any)        { return e.format, e.args }

func (e *posError) Error() string {
	msg := fmt.Sprintf(e.format, e.args...)
	if len(e.path) > 0 {
		msg = strings.Join(e.path, ".") + ": " + msg
	}
	if e.pos.IsValid() {
		return e.pos.String() + ": " + msg
	}
	return msg
}
