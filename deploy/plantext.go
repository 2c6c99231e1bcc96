package deploy

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/qfw-dev/qfw/internal/words"
)

// WriteText writes p for a reader, as qfw plan and apply show it: each
// changed qube's edits, with the policy rule of every new line, what
// happens to each unikernel firewall qube, the qubes that left the policy,
// those to tag, the unchanged qubes and the summary.
func (p *Plan) WriteText(w io.Writer) error {
	var b strings.Builder
	var unchanged []string
	for _, q := range p.Qubes {
		if !q.Changed {
			unchanged = append(unchanged, q.Name)
			continue
		}
		q.writeText(&b)
	}
	for _, fp := range p.Firewalls {
		fp.writeText(&b)
	}
	for _, name := range p.Left {
		fmt.Fprintf(&b, "%s: left the policy; qfw set its list and keeps it as it is. To stop managing it: qfw apply --release %s\n\n", name, name)
	}
	var mark []string
	for _, q := range p.Qubes {
		if q.Mark {
			mark = append(mark, q.Name)
		}
	}
	if mark != nil {
		fmt.Fprintf(&b, "To tag %s: %s.\n\n", ManagedTag, strings.Join(mark, ", "))
	}
	if unchanged != nil {
		slices.Sort(unchanged)
		fmt.Fprintf(&b, "Unchanged: %s.\n\n", strings.Join(unchanged, ", "))
	}
	b.WriteString(p.Summary.text())
	if len(p.Unmanaged) > 0 {
		fmt.Fprintf(&b, "Not managed by the policy: %s (%s).\n", words.Count(len(p.Unmanaged), "networked qube"), strings.Join(p.Unmanaged, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeText writes the edits of q, which changes: each line marked +, -
// or ~, a new one with its policy rule and a current one qfw would never
// write with why, these comments aligned.
func (q *QubePlan) writeText(b *strings.Builder) {
	fmt.Fprintf(b, "%s:", q.Name)
	if q.EditedAt != nil {
		fmt.Fprintf(b, " (edited outside qfw since qfw set it at %s)", q.EditedAt.UTC().Format(time.RFC3339))
	}
	b.WriteByte('\n')
	width := 0
	for _, e := range q.Edits {
		if e.Rule != "" || e.Note != "" {
			width = max(width, len(e.Line))
		}
	}
	for _, e := range q.Edits {
		if comment := cmp.Or(e.Rule, e.Note); comment != "" {
			fmt.Fprintf(b, "  %s %-*s  # %s\n", e.Op, width, e.Line, comment)
		} else {
			fmt.Fprintf(b, "  %s %s\n", e.Op, e.Line)
		}
	}
	b.WriteByte('\n')
}

// writeText writes what the plan does to the unikernel firewall qube fp,
// if anything, or the step left to do in dom0 that qfw cannot check.
func (fp *FirewallPlan) writeText(b *strings.Builder) {
	if !fp.Changes() {
		if k := fp.Kernel; k != nil && k.Dom0Step != "" {
			fmt.Fprintf(b, "%s (unikernel firewall %s): nothing to change; the kernel image %s is checked here, but dom0's copy is out of sight. If it is not installed yet, run in dom0:\n      %s\n\n", fp.Name, fp.Release, k.Path, k.Dom0Step)
		}
		return
	}
	fmt.Fprintf(b, "%s (unikernel firewall %s):\n", fp.Name, fp.Release)
	if k := fp.Kernel; k != nil {
		switch {
		case k.Install:
			fmt.Fprintf(b, "  + install the kernel image %s into %s (SHA-256 %s, checked)\n", k.Path, k.Target, k.SHA256)
		case k.Dom0Step != "":
			fmt.Fprintf(b, "  + in dom0, install the kernel image %s (SHA-256 %s, checked here):\n      %s\n", k.Path, k.SHA256, k.Dom0Step)
		}
	}
	for _, s := range fp.Steps {
		fmt.Fprintf(b, "  + %s\n", s.Text)
	}
	b.WriteByte('\n')
}

// text is the plan's summary line: "No changes: …" or "Plan: …".
func (s PlanSummary) text() string {
	var b strings.Builder
	var tagging string
	if s.Mark > 0 {
		tagging = fmt.Sprintf("%s to tag %s", words.Count(s.Mark, "qube"), ManagedTag)
	}
	switch {
	case !s.Work():
		verb := "match"
		if s.Unchanged == 1 {
			verb = "matches"
		}
		fmt.Fprintf(&b, "No changes: %s %s the policy", words.Count(s.Unchanged, "qube"), verb)
	case s.Change == 0:
		var parts []string
		if s.Provision > 0 {
			parts = append(parts, words.Count(s.Provision, "firewall qube")+" to provision")
		}
		if tagging != "" {
			parts = append(parts, tagging)
		}
		fmt.Fprintf(&b, "Plan: %s; %s unchanged", strings.Join(parts, "; "), words.Count(s.Unchanged, "qube"))
	default:
		fmt.Fprintf(&b, "Plan: %s to change, %d unchanged; %s to add, %d to remove", words.Count(s.Change, "qube"), s.Unchanged, words.Count(s.Add, "rule"), s.Remove)
		if s.Provision > 0 {
			fmt.Fprintf(&b, "; %s to provision", words.Count(s.Provision, "firewall qube"))
		}
		if tagging != "" {
			b.WriteString("; " + tagging)
		}
	}
	if s.Left > 0 {
		kept := "their lists"
		if s.Left == 1 {
			kept = "its list"
		}
		fmt.Fprintf(&b, "; %s left the policy, %s kept", words.Count(s.Left, "qube"), kept)
	}
	b.WriteString(".\n")
	return b.String()
}
