package diagnostic

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"cuelang.org/go/cue/token"

	"github.com/qfw-dev/qfw/internal/workdir"
	"github.com/qfw-dev/qfw/policy"
)

// Level is the level of a GitHub Actions annotation.
type Level string

// The levels of annotation qfw writes.
const (
	LevelError   Level = "error"
	LevelWarning Level = "warning"
)

// WriteGitHub writes r's errors and warnings, sorted by position, as
// GitHub Actions workflow commands, which show as annotations on their
// lines. A warning's kind is its title; with strict, warnings are
// errors.
func (r *Report) WriteGitHub(w io.Writer, strict bool) {
	for _, e := range r.entries(false) {
		level, title := LevelError, ""
		if e.warning {
			title = string(policy.KindOf(e.diagnostic))
			if !strict {
				level = LevelWarning
			}
		}
		WriteAnnotation(w, level, e.Position(), title, text(e.diagnostic))
	}
}

// WriteAnnotation writes a workflow command that annotates pos, if it is
// valid, with msg under title, if title is not empty. The message and the
// properties are escaped as GitHub Actions reads them, so that a newline
// stays in the message and a file name with ':' or ',' stays one
// property.
func WriteAnnotation(w io.Writer, level Level, pos token.Pos, title, msg string) {
	var props []string
	if pos.IsValid() {
		props = append(props,
			"file="+propertyEscaper.Replace(filepath.ToSlash(workdir.File(pos.Filename()))),
			fmt.Sprintf("line=%d", pos.Line()), fmt.Sprintf("col=%d", pos.Column()))
	}
	if title != "" {
		props = append(props, "title="+propertyEscaper.Replace(title))
	}
	sep := ""
	if len(props) > 0 {
		sep = " "
	}
	fmt.Fprintf(w, "::%s%s%s::%s\n", level, sep, strings.Join(props, ","), dataEscaper.Replace(msg))
}

// dataEscaper and propertyEscaper escape a workflow command's message and
// its property values.
var (
	dataEscaper     = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
	propertyEscaper = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C")
)
