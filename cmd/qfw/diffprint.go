package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/qfw-dev/qfw/compiler/reach"
	"github.com/qfw-dev/qfw/internal/jsonfile"
	"github.com/qfw-dev/qfw/review/diff"
)

// sections returns the qubes with widened and with narrowed access, and
// for each its lines of that kind.
func section(r *diff.Report, widened bool) []qubeLines {
	var out []qubeLines
	for _, q := range r.Qubes {
		var ls []*reach.Line
		for i := range q.Lines {
			if q.Lines[i].Widened == widened {
				ls = append(ls, &q.Lines[i])
			}
		}
		if len(ls) > 0 {
			out = append(out, qubeLines{q, ls})
		}
	}
	return out
}

type qubeLines struct {
	q     *diff.Qube
	lines []*reach.Line
}

// place says where q's rules are enforced, on the head side if it has
// one: "behind sys-firewall (qubes)".
func place(q *diff.Qube) string {
	at := q.At[1]
	if at == nil {
		at = q.At[0]
	}
	if at.Firewall == "" {
		return "no netvm"
	}
	return "behind " + at.String()
}

// qubeChange says what became of q itself, or "".
func qubeChange(q *diff.Qube) string {
	switch {
	case q.Added():
		return "added, " + place(q)
	case q.Removed():
		return "removed from the policy: it keeps the list it has until qfw apply --release"
	case q.Moved():
		return fmt.Sprintf("moved from %s to %s", q.At[0], q.At[1])
	}
	return ""
}

// unpinnedText says which names of q are compared as names, or "".
func unpinnedText(q *diff.Qube) string {
	if len(q.Unpinned) == 0 || len(q.Lines) == 0 {
		return ""
	}
	return fmt.Sprintf("the resolve section pins no addresses for %s: rules to it are compared as rules to a name, met by rules to the same name and to any destination only",
		jsonfile.OrList(q.Unpinned))
}

// counts returns the numbers of widened and narrowed lines, and of the
// qubes that have any.
func counts(r *diff.Report) (widened, narrowed, qubesChanged int) {
	for _, q := range r.Qubes {
		for _, l := range q.Lines {
			if l.Widened {
				widened++
			} else {
				narrowed++
			}
		}
		if len(q.Lines) > 0 {
			qubesChanged++
		}
	}
	return widened, narrowed, qubesChanged
}

func plural(n int, one, many string) string {
	switch n {
	case 0:
		return "no " + one
	case 1:
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// summary is the report's last line.
func summary(r *diff.Report) string {
	widened, narrowed, changed := counts(r)
	var parts []string
	if widened+narrowed == 0 {
		parts = append(parts, "no change in reachability")
	} else {
		parts = append(parts, fmt.Sprintf("%s and %s of access, in %s",
			plural(widened, "widening", "widenings"), plural(narrowed, "narrowing", "narrowings"), plural(changed, "qube", "qubes")))
	}
	var added, removed, moved int
	for _, q := range r.Qubes {
		switch {
		case q.Added():
			added++
		case q.Removed():
			removed++
		case q.Moved():
			moved++
		}
	}
	if added+removed+moved > 0 {
		parts = append(parts, fmt.Sprintf("qubes: %d added, %d removed, %d moved", added, removed, moved))
	}
	return strings.Join(parts, "; ")
}

func printDiffText(w io.Writer, r *diff.Report) {
	fmt.Fprintf(w, "%s → %s\n", r.Sides[0].Arg, r.Sides[1].Arg)
	for _, widened := range []bool{true, false} {
		sec := section(r, widened)
		if len(sec) == 0 {
			continue
		}
		mark := "-"
		if widened {
			fmt.Fprintf(w, "\nwidened access, now reachable:\n")
			mark = "+"
		} else {
			fmt.Fprintf(w, "\nnarrowed access, no longer reachable:\n")
		}
		for _, ql := range sec {
			fmt.Fprintf(w, "  %s, %s:\n", ql.q.Name, place(ql.q))
			for _, l := range ql.lines {
				fmt.Fprintf(w, "    %s %s\n", mark, l)
				fmt.Fprintf(w, "        now: %s\n", r.Reason(ql.q, l, 1))
				fmt.Fprintf(w, "        was: %s\n", r.Reason(ql.q, l, 0))
			}
		}
	}
	first := true
	for _, q := range r.Qubes {
		if c := qubeChange(q); c != "" {
			if first {
				fmt.Fprintf(w, "\nqubes:\n")
				first = false
			}
			fmt.Fprintf(w, "  %s: %s\n", q.Name, c)
		}
	}
	first = true
	for _, q := range r.Qubes {
		if n := unpinnedText(q); n != "" {
			if first {
				fmt.Fprintf(w, "\nnotes:\n")
				first = false
			}
			fmt.Fprintf(w, "  %s: %s\n", q.Name, n)
		}
	}
	fmt.Fprintf(w, "\n%s.\n", summary(r))
}

// mdCell escapes s for a cell of a markdown table.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "`", "'").Replace(s)
}

func printDiffMarkdown(w io.Writer, r *diff.Report) {
	fmt.Fprintf(w, "### qfw diff: `%s` → `%s`\n\n", mdCell(r.Sides[0].Arg), mdCell(r.Sides[1].Arg))
	fmt.Fprintf(w, "%s.\n", capitalise(summary(r)))
	for _, widened := range []bool{true, false} {
		sec := section(r, widened)
		if len(sec) == 0 {
			continue
		}
		if widened {
			fmt.Fprintf(w, "\n#### Widened access (now reachable)\n\n")
		} else {
			fmt.Fprintf(w, "\n#### Narrowed access (no longer reachable)\n\n")
		}
		fmt.Fprintf(w, "| qube | packets | now | was |\n|---|---|---|---|\n")
		for _, ql := range sec {
			for _, l := range ql.lines {
				fmt.Fprintf(w, "| %s | %s | %s | %s |\n", mdCell(ql.q.Name), mdCell(l.String()),
					mdCell(r.Reason(ql.q, l, 1)), mdCell(r.Reason(ql.q, l, 0)))
			}
		}
	}
	first := true
	for _, q := range r.Qubes {
		if c := qubeChange(q); c != "" {
			if first {
				fmt.Fprintf(w, "\n#### Qubes\n\n")
				first = false
			}
			fmt.Fprintf(w, "- **%s**: %s\n", mdCell(q.Name), mdCell(c))
		}
	}
	first = true
	for _, q := range r.Qubes {
		if n := unpinnedText(q); n != "" {
			if first {
				fmt.Fprintf(w, "\n#### Notes\n\n")
				first = false
			}
			fmt.Fprintf(w, "- **%s**: %s\n", mdCell(q.Name), mdCell(n))
		}
	}
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func printDiffJSON(w io.Writer, r *diff.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r.JSON())
}
