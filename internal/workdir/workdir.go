// Package workdir names files the way a user at a shell names them:
// relative to the working directory when they are below it, so that an
// editor or a terminal opens the position a message gives.
package workdir

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"cuelang.org/go/cue/token"
)

// dir is the working directory, looked up once: positions are formatted
// by the thousand.
var dir = sync.OnceValues(os.Getwd)

// Pos formats pos with its file name relative to the working directory,
// if it is below it, in the file:line:col form editors understand.
func Pos(pos token.Pos) string {
	return fmt.Sprintf("%s:%d:%d", filepath.ToSlash(File(pos.Filename())), pos.Line(), pos.Column())
}

// File returns name relative to the working directory, if it is below
// it, and name unchanged otherwise.
func File(name string) string {
	if wd, err := dir(); err == nil {
		if rel, err := filepath.Rel(wd, name); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return name
}
