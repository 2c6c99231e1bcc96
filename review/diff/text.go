package diff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/qfw-dev/qfw/compiler/reach"
	"github.com/qfw-dev/qfw/internal/words"
)

// WriteText writes the report for a reader: the widened access first,
// then the narrowed, each line with what decides its packets now and
// before, then the qubes added, removed or moved, notes on names compared
// as names, and a summary line.
func (r *Report) WriteText(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s → %s\n", r.Sides[0].Arg, r.Sides[1].Arg)
	for _, widened := range []bool{true, false} {
		sec := r.section(widened)
		if len(sec) == 0 {
			continue
		}
		mark := "-"
		if widened {
			fmt.Fprintf(&b, "\nwidened access, now reachable:\n")
			mark = "+"
		} else {
			fmt.Fprintf(&b, "\nnarrowed access, no longer reachable:\n")
		}
		for _, ql := range sec {
			fmt.Fprintf(&b, "  %s, %s:\n", ql.q.Name, place(ql.q))
			for _, l := range ql.lines {
				fmt.Fprintf(&b, "    %s %s\n", mark, l)
				fmt.Fprintf(&b, "        now: %s\n", r.reason(ql.q, l, 1))
				fmt.Fprintf(&b, "        was: %s\n", r.reason(ql.q, l, 0))
			}
		}
	}
	r.notes(&b, "\nqubes:\n", qubeChange, func(q *Qube, c string) string { return fmt.Sprintf("  %s: %s\n", q.Name, c) })
	r.notes(&b, "\nnotes:\n", unpinnedText, func(q *Qube, n string) string { return fmt.Sprintf("  %s: %s\n", q.Name, n) })
	fmt.Fprintf(&b, "\n%s.\n", r.summary())
	_, err := w.Write(b.Bytes())
	return err
}

// WriteMarkdown writes the report as a comment for a pull request: the
// summary, a table of the widened and one of the narrowed access, and
// lists of the qubes added, removed or moved and of the notes.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "### qfw diff: `%s` → `%s`\n\n", mdCell(r.Sides[0].Arg), mdCell(r.Sides[1].Arg))
	fmt.Fprintf(&b, "%s.\n", capitalise(r.summary()))
	for _, widened := range []bool{true, false} {
		sec := r.section(widened)
		if len(sec) == 0 {
			continue
		}
		if widened {
			fmt.Fprintf(&b, "\n#### Widened access (now reachable)\n\n")
		} else {
			fmt.Fprintf(&b, "\n#### Narrowed access (no longer reachable)\n\n")
		}
		fmt.Fprintf(&b, "| qube | packets | now | was |\n|---|---|---|---|\n")
		for _, ql := range sec {
			for _, l := range ql.lines {
				fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", mdCell(ql.q.Name), mdCell(l.String()),
					mdCell(r.reason(ql.q, l, 1)), mdCell(r.reason(ql.q, l, 0)))
			}
		}
	}
	item := func(q *Qube, s string) string { return fmt.Sprintf("- **%s**: %s\n", mdCell(q.Name), mdCell(s)) }
	r.notes(&b, "\n#### Qubes\n\n", qubeChange, item)
	r.notes(&b, "\n#### Notes\n\n", unpinnedText, item)
	_, err := w.Write(b.Bytes())
	return err
}

// WriteJSON writes the report's [JSON] form, indented.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r.JSON())
}

// qubeLines are the lines of one kind of a qube.
type qubeLines struct {
	q     *Qube
	lines []*reach.Line
}

// section returns the qubes with widened or with narrowed access, and
// for each its lines of that kind.
func (r *Report) section(widened bool) []qubeLines {
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

// notes writes, under heading, the item of each qube for which say says
// something; nothing if it says nothing of any.
func (r *Report) notes(b *bytes.Buffer, heading string, say func(*Qube) string, item func(*Qube, string) string) {
	first := true
	for _, q := range r.Qubes {
		if s := say(q); s != "" {
			if first {
				b.WriteString(heading)
				first = false
			}
			b.WriteString(item(q, s))
		}
	}
}

// place says where q's rules are enforced, on the head side if it has
// one: "behind sys-firewall (qubes)".
func place(q *Qube) string {
	at := q.where()
	if at.Firewall == "" {
		return "no netvm"
	}
	return "behind " + at.String()
}

// qubeChange says what became of q itself, or "".
func qubeChange(q *Qube) string {
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
func unpinnedText(q *Qube) string {
	if len(q.Unpinned) == 0 || len(q.Lines) == 0 {
		return ""
	}
	return fmt.Sprintf("the resolve section pins no addresses for %s: rules to it are compared as rules to a name, met by rules to the same name and to any destination only",
		words.Or(q.Unpinned))
}

// summary is the report's last line: how many lines widen and narrow
// access, in how many qubes, and how many qubes are added, removed and
// moved.
func (r *Report) summary() string {
	n, changed := r.counts()
	var parts []string
	if n.Widened+n.Narrowed == 0 {
		parts = append(parts, "no change in reachability")
	} else {
		parts = append(parts, fmt.Sprintf("%s and %s of access, in %s",
			plural(n.Widened, "widening"), plural(n.Narrowed, "narrowing"), plural(changed, "qube")))
	}
	if n.Added+n.Removed+n.Moved > 0 {
		parts = append(parts, fmt.Sprintf("qubes: %d added, %d removed, %d moved", n.Added, n.Removed, n.Moved))
	}
	return strings.Join(parts, "; ")
}

// plural says n things: "no widening", "1 widening", "2 widenings".
func plural(n int, noun string) string {
	if n == 0 {
		return "no " + noun
	}
	return words.Count(n, noun)
}

// mdCell escapes s for a cell of a markdown table.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "`", "'").Replace(s)
}

// capitalise returns s with its first letter, ASCII, in upper case.
func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
