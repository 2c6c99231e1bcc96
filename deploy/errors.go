package deploy

import (
	"fmt"

	cueerrors "cuelang.org/go/cue/errors"
)

// flatten returns the errors that err joins, recursively, or err alone.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, flatten(e)...)
	}
	return out
}

// diagMessage returns a diagnostic's message alone.
func diagMessage(e cueerrors.Error) string {
	format, args := e.Msg()
	return fmt.Sprintf(format, args...)
}
