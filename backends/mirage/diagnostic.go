package mirage

import (
	"cmp"
	"fmt"
	"slices"

	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// Severity says whether a diagnostic stops compilation.
type Severity uint8

const (
	// Warning is a difference that only narrows what the policy allows,
	// or that the user should know to read the result right.
	Warning Severity = iota + 1
	// Error is something the release would mis-enforce or widen: qfw
	// refuses to target the release with the list.
	Error
)

func (s Severity) String() string {
	switch s {
	case Warning:
		return "warning"
	case Error:
		return "error"
	}
	return "invalid"
}

// Diagnostic is an error or a warning about one rule of a client's list,
// or about the whole list. A *Diagnostic is a cue/errors Error, so that
// one printer serves it and the policy's own errors. It has no CUE path,
// as it knows no qube name: a caller that does can re-wrap Message at
// Position with the rule's path.
type Diagnostic struct {
	Severity Severity
	// Rule is the index of the rule in the client's list as dom0 stores
	// it, or -1 for the list as a whole.
	Rule int
	// Origin is where the rule came from in the policy; zero for a rule
	// read from dom0 and for the whole list.
	Origin ir.Origin
	// Also holds the positions of other rules the diagnostic is about,
	// such as the later rule that undoes this one.
	Also []token.Pos
	// Message says what is wrong, why, and what to write instead.
	Message string
}

// Diagnostic holds slices, so only a pointer may go into an error: cue's
// errors compare errors with ==.
var _ errors.Error = (*Diagnostic)(nil)

// Position returns the position of the rule in the policy.
func (d *Diagnostic) Position() token.Pos { return d.Origin.Pos }

// InputPositions returns the positions of the other rules concerned.
func (d *Diagnostic) InputPositions() []token.Pos { return d.Also }

// Path returns nil: see [Diagnostic].
func (d *Diagnostic) Path() []string { return nil }

// Msg returns the message, prefixed with the rule it is about.
func (d *Diagnostic) Msg() (string, []any) { return "%s", []any{d.text()} }

// Error returns the diagnostic as "file:line:col: rule: message".
func (d *Diagnostic) Error() string {
	if d.Origin.Pos.IsValid() {
		return d.Origin.Pos.String() + ": " + d.text()
	}
	return d.text()
}

// text returns the message prefixed with the rule's name in its qube
// ("allow.web"), or its QubesDB key for a rule without one.
func (d *Diagnostic) text() string {
	switch {
	case d.Rule < 0:
		return d.Message
	case d.Origin.Name != "":
		return d.Origin.String() + ": " + d.Message
	}
	return fmt.Sprintf("rule %04d: %s", d.Rule, d.Message)
}

// sortDiagnostics orders ds by rule (the whole list first), errors before
// warnings, then message, so that output does not depend on the order in
// which the checks ran.
func sortDiagnostics(ds []Diagnostic) {
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		return cmp.Or(
			cmp.Compare(a.Rule, b.Rule),
			cmp.Compare(b.Severity, a.Severity),
			cmp.Compare(a.Message, b.Message),
		)
	})
}

// ruleName names rule i of rules for a message: its path in the policy
// ("allow.web"), or its QubesDB key number.
func ruleName(rules []ir.Rule, i int) string {
	if s := rules[i].Origin.String(); s != "" {
		return s
	}
	return fmt.Sprintf("rule %04d", i)
}

// diagAt returns a diagnostic about rule i of rules.
func diagAt(rules []ir.Rule, i int, sev Severity, format string, args ...any) Diagnostic {
	return Diagnostic{Severity: sev, Rule: i, Origin: rules[i].Origin, Message: fmt.Sprintf(format, args...)}
}
