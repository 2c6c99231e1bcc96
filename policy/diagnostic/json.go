package diagnostic

import (
	"encoding/json"
	"io"
	"strings"

	"github.com/qfw-dev/qfw/internal/workdir"
	"github.com/qfw-dev/qfw/policy"
)

// JSONDiagnostic is one diagnostic in the JSON document.
type JSONDiagnostic struct {
	// Severity is "error" or "warning".
	Severity string `json:"severity"`
	// Kind is a warning's kind, as a rule's ack names it.
	Kind string `json:"kind,omitempty"`
	// Acknowledged says a rule acknowledges the warning: it does not
	// fail a strict run.
	Acknowledged bool `json:"acknowledged,omitempty"`
	// Position is file:line:col, relative to the working directory.
	Position string `json:"position,omitempty"`
	// Path is the dotted path of the value the diagnostic is about.
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
	// Also are further positions the diagnostic is about.
	Also []string `json:"also,omitempty"`
}

// JSONSummary counts a report's diagnostics.
type JSONSummary struct {
	Errors       int `json:"errors"`
	Warnings     int `json:"warnings"`
	Acknowledged int `json:"acknowledged"`
}

// JSONReport is the JSON document of a report, format version 1.0.
type JSONReport struct {
	FormatVersion string `json:"format_version"`
	Strict        bool   `json:"strict"`
	// Passed says whether the run passes, as [Report.Passed] does.
	Passed bool `json:"passed"`
	// Diagnostics are every diagnostic, the acknowledged warnings too,
	// sorted by position.
	Diagnostics []JSONDiagnostic `json:"diagnostics"`
	Summary     JSONSummary      `json:"summary"`
}

// JSON returns r's JSON document, judged with strict.
func (r *Report) JSON(strict bool) *JSONReport {
	doc := &JSONReport{
		FormatVersion: "1.0", Strict: strict, Passed: r.Passed(strict),
		Diagnostics: []JSONDiagnostic{},
		Summary:     JSONSummary{len(r.Errors), len(r.Warnings), len(r.Acknowledged)},
	}
	for _, e := range r.entries(true) {
		j := JSONDiagnostic{Severity: "error", Acknowledged: e.acknowledged, Path: strings.Join(e.Path(), "."), Message: message(e.diagnostic)}
		if e.warning {
			j.Severity, j.Kind = "warning", string(policy.KindOf(e.diagnostic))
		}
		if pos := e.Position(); pos.IsValid() {
			j.Position = workdir.Pos(pos)
		}
		for _, p := range also(e.diagnostic) {
			j.Also = append(j.Also, workdir.Pos(p))
		}
		doc.Diagnostics = append(doc.Diagnostics, j)
	}
	return doc
}

// WriteJSON writes r's JSON document, indented, judged with strict.
func (r *Report) WriteJSON(w io.Writer, strict bool) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r.JSON(strict))
}
