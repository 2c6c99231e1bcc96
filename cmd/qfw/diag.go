package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"github.com/qfw-dev/qfw/policy"
)

// printDiagnostics prints each diagnostic on one line as
// file:line:col: [prefix]path: message, sorted by position, with file
// names relative to the working directory.
func printDiagnostics(w io.Writer, prefix string, diags []errors.Error) {
	sorted := append([]errors.Error(nil), diags...)
	policy.SortErrors(sorted)
	for _, d := range sorted {
		fmt.Fprintln(w, formatDiagnostic(prefix, d))
	}
}

func formatDiagnostic(prefix string, d errors.Error) string {
	var b strings.Builder
	if pos := d.Position(); pos.IsValid() {
		b.WriteString(relPos(pos))
		b.WriteString(": ")
	} else if prefix == "" {
		// An error about no place in the policy, such as a file that
		// cannot be read: say who is speaking.
		b.WriteString("qfw: ")
	}
	b.WriteString(prefix)
	if path := d.Path(); len(path) > 0 {
		b.WriteString(strings.Join(path, "."))
		b.WriteString(": ")
	}
	format, args := d.Msg()
	msg := fmt.Sprintf(format, args...)
	if msg == "" {
		// errors.Promote keeps the message in Error only.
		msg = d.Error()
	}
	b.WriteString(strings.TrimSuffix(msg, ":"))
	// Further places the error is about, such as the other side of a
	// conflict, each on a line of its own.
	for _, p := range d.InputPositions() {
		if p.IsValid() && p != d.Position() {
			b.WriteString("\n    ")
			b.WriteString(relPos(p))
		}
	}
	return b.String()
}

// workDir is the working directory, looked up once: positions are
// formatted by the thousand.
var workDir = sync.OnceValues(os.Getwd)

// relPos formats pos with its file name relative to the working directory,
// in the file:line:col form editors understand.
func relPos(pos token.Pos) string {
	return fmt.Sprintf("%s:%d:%d", filepath.ToSlash(relFile(pos.Filename())), pos.Line(), pos.Column())
}

// relFile returns name relative to the working directory, if it is below
// it.
func relFile(name string) string {
	if wd, err := workDir(); err == nil {
		if rel, err := filepath.Rel(wd, name); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return name
}
