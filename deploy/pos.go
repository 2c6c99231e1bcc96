package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"cuelang.org/go/cue/token"
)

// workDir is the working directory, looked up once: positions are
// formatted by the thousand.
var workDir = sync.OnceValues(os.Getwd)

// RelPos formats pos with its file name relative to the working directory,
// if it is below it, in the file:line:col form editors understand.
func RelPos(pos token.Pos) string {
	name := pos.Filename()
	if wd, err := workDir(); err == nil {
		if rel, err := filepath.Rel(wd, name); err == nil && !strings.HasPrefix(rel, "..") {
			name = rel
		}
	}
	return fmt.Sprintf("%s:%d:%d", filepath.ToSlash(name), pos.Line(), pos.Column())
}
