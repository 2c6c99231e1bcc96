package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"
	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/policy"
)

// warningPrefix leads a warning in text output.
const warningPrefix = "warning: "

// printDiagnostics prints each diagnostic on one line as
// file:line:col: [prefix]path: message, sorted by position, with file
// names relative to the working directory. Printed to a diagCollector,
// the diagnostics are collected instead, warnings (prefix warningPrefix)
// apart from errors.
func printDiagnostics(w io.Writer, prefix string, diags []errors.Error) {
	if c, ok := w.(*diagCollector); ok {
		if prefix == warningPrefix {
			c.warnings = append(c.warnings, diags...)
		} else {
			c.errors = append(c.errors, diags...)
		}
		return
	}
	sorted := append([]errors.Error(nil), diags...)
	policy.SortErrors(sorted)
	for _, d := range sorted {
		fmt.Fprintln(w, formatDiagnostic(prefix, d))
	}
}

func formatDiagnostic(prefix string, d errors.Error) string {
	var b strings.Builder
	if pos := d.Position(); pos.IsValid() {
		b.WriteString(deploy.RelPos(pos))
		b.WriteString(": ")
	} else if prefix == "" {
		// An error about no place in the policy, such as a file that
		// cannot be read: say who is speaking.
		b.WriteString("qfw: ")
	}
	b.WriteString(prefix)
	b.WriteString(diagnosticText(d))
	// Further places the error is about, such as the other side of a
	// conflict, each on a line of its own.
	for _, p := range alsoPositions(d) {
		b.WriteString("\n    ")
		b.WriteString(deploy.RelPos(p))
	}
	return b.String()
}

// diagnosticText returns d as "path: message", without its positions.
func diagnosticText(d errors.Error) string {
	var b strings.Builder
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
	return b.String()
}

// alsoPositions returns the further places d is about.
func alsoPositions(d errors.Error) []token.Pos {
	var out []token.Pos
	for _, p := range d.InputPositions() {
		if p.IsValid() && p != d.Position() {
			out = append(out, p)
		}
	}
	return out
}

// diagnostics are what a build found: its warnings, those the rules
// acknowledge, and its errors.
type diagnostics struct {
	warnings, errors []errors.Error
	// acknowledged are known only for a policy that compiled.
	acknowledged []errors.Error
}

// diagCollector is a writer that build's diagnostics go to, to be
// printed in an output format other than build's text; anything else
// written to it goes on to w.
type diagCollector struct {
	diagnostics
	w io.Writer
}

func (c *diagCollector) Write(p []byte) (int, error) { return c.w.Write(p) }

// buildDiagnosed is build, with the diagnostics returned rather than
// printed.
func buildDiagnosed(cmd *cobra.Command, args []string, f *policyFlags, withTests bool) (*deploy.Built, *diagnostics, error) {
	stderr := cmd.ErrOrStderr()
	c := &diagCollector{w: stderr}
	cmd.SetErr(c)
	defer cmd.SetErr(stderr)
	b, err := build(cmd, args, f, withTests)
	if b != nil {
		c.acknowledged = b.Acknowledged
	}
	return b, &c.diagnostics, err
}

// print prints d in format: as text to stderr, as GitHub Actions
// workflow commands or JSON to stdout. With strict, a warning fails the
// run as an error does. It returns errPrinted if the run fails.
func (d *diagnostics) print(stdout, stderr io.Writer, format format, strict bool) error {
	var err error
	if len(d.errors) > 0 || strict && len(d.warnings) > 0 {
		err = errPrinted
	}
	switch format {
	case formatGitHub:
		d.printGitHub(stdout, strict)
		return err
	case formatJSON:
		if jerr := d.printJSON(stdout, strict, err == nil); jerr != nil {
			return jerr
		}
		return err
	}
	if !strict {
		printDiagnostics(stderr, warningPrefix, d.warnings)
	} else {
		// Strict output names each warning's kind, which its rule's ack
		// would name to acknowledge it.
		sorted := append([]errors.Error(nil), d.warnings...)
		policy.SortErrors(sorted)
		for _, w := range sorted {
			prefix := warningPrefix
			if k := policy.KindOf(w); k != "" {
				prefix = "warning [" + string(k) + "]: "
			}
			fmt.Fprintln(stderr, formatDiagnostic(prefix, w))
		}
	}
	printDiagnostics(stderr, "", d.errors)
	if strict && len(d.warnings) > 0 {
		hint := ""
		if slices.ContainsFunc(d.warnings, func(w errors.Error) bool { return slices.Contains(policy.AckKinds, policy.KindOf(w)) }) {
			hint = "; a rule acknowledges a warning it is meant to have with ack: [KIND]"
		}
		warnings := "1 warning"
		if n := len(d.warnings); n > 1 {
			warnings = fmt.Sprintf("%d warnings", n)
		}
		fmt.Fprintf(stderr, "qfw: --strict: %s%s\n", warnings, hint)
	}
	return err
}

// tagged is a diagnostic with its severity, for the formats that print
// errors and warnings in one list.
type tagged struct {
	errors.Error
	warning, acknowledged bool
}

// all returns d's diagnostics, sorted by position, acknowledged warnings
// with them if withAcknowledged.
func (d *diagnostics) all(withAcknowledged bool) []tagged {
	var out []tagged
	add := func(es []errors.Error, t tagged) {
		for _, e := range es {
			t.Error = e
			out = append(out, t)
		}
	}
	add(d.errors, tagged{})
	add(d.warnings, tagged{warning: true})
	if withAcknowledged {
		add(d.acknowledged, tagged{warning: true, acknowledged: true})
	}
	// The order of policy.SortErrors: file, offset, then message.
	sort.SliceStable(out, func(i, j int) bool {
		pi, pj := out[i].Position(), out[j].Position()
		if pi.Filename() != pj.Filename() {
			return pi.Filename() < pj.Filename()
		}
		if pi.Offset() != pj.Offset() {
			return pi.Offset() < pj.Offset()
		}
		return out[i].Error.Error() < out[j].Error.Error()
	})
	return out
}

// printGitHub prints d's errors and warnings as workflow commands, which
// GitHub Actions shows as annotations on their lines; with strict, the
// warnings are errors. A warning's kind is its title.
func (d *diagnostics) printGitHub(w io.Writer, strict bool) {
	for _, t := range d.all(false) {
		level, title := "error", ""
		if t.warning {
			title = string(policy.KindOf(t.Error))
			if !strict {
				level = "warning"
			}
		}
		msg := diagnosticText(t.Error)
		for _, p := range alsoPositions(t.Error) {
			msg += "\n    " + deploy.RelPos(p)
		}
		printAnnotation(w, level, t.Position(), title, msg)
	}
}

// printAnnotation prints a workflow command of level (error, warning) at
// pos, if valid, with title, if not empty.
func printAnnotation(w io.Writer, level string, pos token.Pos, title, msg string) {
	var props []string
	if pos.IsValid() {
		props = append(props,
			"file="+escapeProperty(filepath.ToSlash(deploy.RelFile(pos.Filename()))),
			fmt.Sprintf("line=%d", pos.Line()), fmt.Sprintf("col=%d", pos.Column()))
	}
	if title != "" {
		props = append(props, "title="+escapeProperty(title))
	}
	sep := ""
	if len(props) > 0 {
		sep = " "
	}
	fmt.Fprintf(w, "::%s%s%s::%s\n", level, sep, strings.Join(props, ","), escapeData(msg))
}

// escapeData and escapeProperty escape a workflow command's message and
// property values, as GitHub Actions reads them.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// diagnosticJSON is one diagnostic in vet --format json.
type diagnosticJSON struct {
	// Severity is "error" or "warning".
	Severity string `json:"severity"`
	// Kind is a warning's kind, as a rule's ack names it.
	Kind string `json:"kind,omitempty"`
	// Acknowledged says a rule acknowledges the warning: it does not
	// fail a strict run.
	Acknowledged bool `json:"acknowledged,omitempty"`
	// Position is file:line:col, relative to the working directory.
	Position string `json:"position,omitempty"`
	Path     string `json:"path,omitempty"`
	Message  string `json:"message"`
	// Also are further positions the diagnostic is about.
	Also []string `json:"also,omitempty"`
}

// printJSON prints d as one JSON document: every diagnostic, the
// acknowledged warnings too, sorted by position, and a summary; passed
// says whether the run passes.
func (d *diagnostics) printJSON(w io.Writer, strict, passed bool) error {
	list := []diagnosticJSON{}
	for _, t := range d.all(true) {
		j := diagnosticJSON{Severity: "error", Acknowledged: t.acknowledged}
		if t.warning {
			j.Severity, j.Kind = "warning", string(policy.KindOf(t.Error))
		}
		if pos := t.Position(); pos.IsValid() {
			j.Position = deploy.RelPos(pos)
		}
		j.Path = strings.Join(t.Path(), ".")
		format, args := t.Msg()
		if j.Message = strings.TrimSuffix(fmt.Sprintf(format, args...), ":"); j.Message == "" {
			j.Message = t.Error.Error()
		}
		for _, p := range alsoPositions(t.Error) {
			j.Also = append(j.Also, deploy.RelPos(p))
		}
		list = append(list, j)
	}
	type summary struct {
		Errors       int `json:"errors"`
		Warnings     int `json:"warnings"`
		Acknowledged int `json:"acknowledged"`
	}
	doc := struct {
		FormatVersion string           `json:"format_version"`
		Strict        bool             `json:"strict"`
		Passed        bool             `json:"passed"`
		Diagnostics   []diagnosticJSON `json:"diagnostics"`
		Summary       summary          `json:"summary"`
	}{"1.0", strict, passed, list, summary{len(d.errors), len(d.warnings), len(d.acknowledged)}}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
