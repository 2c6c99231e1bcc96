package deploy

import (
	"cuelang.org/go/cue/token"

	"github.com/qfw-dev/qfw/internal/workdir"
)

// RelPos formats pos with its file name relative to the working directory,
// if it is below it, in the file:line:col form editors understand.
func RelPos(pos token.Pos) string { return workdir.Pos(pos) }

// RelFile returns name relative to the working directory, if it is below
// it, and name unchanged otherwise.
func RelFile(name string) string { return workdir.File(name) }
