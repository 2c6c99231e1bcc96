package diagnostic

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"github.com/qfw-dev/qfw/internal/words"
	"github.com/qfw-dev/qfw/internal/workdir"
	"github.com/qfw-dev/qfw/policy"
)

// Report is what checking a policy found.
type Report struct {
	Warnings, Errors []errors.Error
	// Acknowledged are the warnings that rules acknowledge with ack,
	// known only for a policy that compiled. Only JSON shows them.
	Acknowledged []errors.Error
}

// Passed reports whether the check passes: there is no error, nor, if
// strict, a warning.
func (r *Report) Passed(strict bool) bool {
	return len(r.Errors) == 0 && !(strict && len(r.Warnings) > 0)
}

// WriteText writes r's warnings, then its errors, one a line as [Line]
// gives them, each group sorted by position. With strict, each warning
// names its kind, which an ack would name, and a last line counts the
// warnings that fail the run.
func (r *Report) WriteText(w io.Writer, strict bool) {
	prefix := func(errors.Error) string { return "warning: " }
	if strict {
		prefix = func(d errors.Error) string {
			if k := policy.KindOf(d); k != "" {
				return "warning [" + string(k) + "]: "
			}
			return "warning: "
		}
	}
	writeLines(w, prefix, r.Warnings)
	WriteErrors(w, r.Errors)
	if !strict || len(r.Warnings) == 0 {
		return
	}
	hint := ""
	if slices.ContainsFunc(r.Warnings, func(d errors.Error) bool { return slices.Contains(policy.AckKinds, policy.KindOf(d)) }) {
		hint = "; a rule acknowledges a warning it is meant to have with ack: [KIND]"
	}
	fmt.Fprintf(w, "qfw: --strict: %s%s\n", words.Count(len(r.Warnings), "warning"), hint)
}

// WriteWarnings writes warnings one a line, sorted by position, each as
// [Line] gives it with "warning: " before its text.
func WriteWarnings(w io.Writer, warnings []errors.Error) {
	writeLines(w, func(errors.Error) string { return "warning: " }, warnings)
}

// WriteErrors writes errs one a line, sorted by position, each as [Line]
// gives it.
func WriteErrors(w io.Writer, errs []errors.Error) {
	writeLines(w, func(errors.Error) string { return "" }, errs)
}

func writeLines(w io.Writer, prefix func(errors.Error) string, ds []errors.Error) {
	sorted := slices.Clone(ds)
	policy.SortErrors(sorted)
	for _, d := range sorted {
		fmt.Fprintln(w, Line(prefix(d), d))
	}
}

// Line formats d as file:line:col: prefix path: message, with each further
// place d is about on a line of its own below, indented. An error about
// no place in the policy, such as a file that cannot be read, starts with
// "qfw: " instead of a position, to say who is speaking.
func Line(prefix string, d errors.Error) string {
	var b strings.Builder
	if pos := d.Position(); pos.IsValid() {
		b.WriteString(workdir.Pos(pos))
		b.WriteString(": ")
	} else if prefix == "" {
		b.WriteString("qfw: ")
	}
	b.WriteString(prefix)
	b.WriteString(text(d))
	return b.String()
}

// text returns d as "path: message", followed by its further positions,
// each on a line of its own.
func text(d errors.Error) string {
	var b strings.Builder
	if path := d.Path(); len(path) > 0 {
		b.WriteString(strings.Join(path, "."))
		b.WriteString(": ")
	}
	b.WriteString(message(d))
	for _, p := range also(d) {
		b.WriteString("\n    ")
		b.WriteString(workdir.Pos(p))
	}
	return b.String()
}

// message returns d's message, without its path and positions.
func message(d errors.Error) string {
	format, args := d.Msg()
	msg := fmt.Sprintf(format, args...)
	if msg == "" {
		// errors.Promote keeps the message in Error only.
		msg = d.Error()
	}
	return strings.TrimSuffix(msg, ":")
}

// also returns the further places d is about.
func also(d errors.Error) []token.Pos {
	var out []token.Pos
	for _, p := range d.InputPositions() {
		if p.IsValid() && p != d.Position() {
			out = append(out, p)
		}
	}
	return out
}

// entry is a diagnostic with its severity, for the forms that give errors
// and warnings in one list. It is an errors.Error itself, so that
// policy.SortErrors sorts a list of them.
type entry struct {
	diagnostic
	warning, acknowledged bool
}

// diagnostic is errors.Error under a name that entry can embed: an
// embedded field named Error would hide the method Error.
type diagnostic interface{ errors.Error }

// entries returns r's diagnostics in one list sorted by position, with
// the acknowledged warnings if withAcknowledged.
func (r *Report) entries(withAcknowledged bool) []entry {
	var list []errors.Error
	add := func(ds []errors.Error, e entry) {
		for _, d := range ds {
			e.diagnostic = d
			list = append(list, e)
		}
	}
	add(r.Errors, entry{})
	add(r.Warnings, entry{warning: true})
	if withAcknowledged {
		add(r.Acknowledged, entry{warning: true, acknowledged: true})
	}
	policy.SortErrors(list)
	out := make([]entry, len(list))
	for i, e := range list {
		out[i] = e.(entry)
	}
	return out
}
