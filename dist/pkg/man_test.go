package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestManPages renders every man page with man(1) and checks it against
// qfw's help: one page for qfw and for each command its help lists, a
// NAME line that apropos reads, no warning from groff, and every line of
// the command's help on the page, in order.
func TestManPages(t *testing.T) {
	need(t, "man", "groff", "lexgrog")
	ctx := context.Background()
	files, err := writeManPages(testBin.man, t.TempDir(), testTime, "1.3.0")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	// qfw and every command its help lists, and theirs, depth first.
	var want []string
	var list func(path []string)
	list = func(path []string) {
		want = append(want, strings.Join(append([]string{"qfw"}, path...), "-")+".1.gz")
		help, err := runQfw(ctx, testBin.path, append(slices.Clone(path), "--help")...)
		if err != nil {
			t.Fatal(err)
		}
		_, cmds, ok := strings.Cut(string(help), "\nAvailable Commands:\n")
		if !ok {
			return
		}
		cmds, _, _ = strings.Cut(cmds, "\n\n")
		for _, line := range strings.Split(cmds, "\n") {
			if name := strings.Fields(line)[0]; name != "help" {
				list(append(slices.Clone(path), name))
			}
		}
	}
	list(nil)
	if !slices.Equal(names, want) {
		t.Fatalf("man pages %q; want %q", names, want)
	}

	overstrike := regexp.MustCompile(".\x08")
	for i, f := range files {
		p := testBin.man[i]
		t.Run(p.name(), func(t *testing.T) {
			if out := command(t, "", "lexgrog", f); out != f+": \""+p.name()+" - "+p.short+"\"\n" {
				t.Errorf("lexgrog: %q; want the name and %q", out, p.short)
			}
			src, err := exec.Command("sh", "-c", "zcat "+f+" | groff -man -Tutf8 -ww -z").CombinedOutput()
			if err != nil || len(src) > 0 {
				t.Errorf("groff: %v: %s", err, src)
			}
			cmd := exec.Command("man", "--no-hyphenation", "--no-justification", "--local-file", f)
			cmd.Env = append(os.Environ(), "MANWIDTH=250", "LC_ALL=C.UTF-8", "MANPAGER=cat", "PAGER=cat")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("man: %v", err)
			}
			page := strings.Split(overstrike.ReplaceAllString(string(out), ""), "\n")
			help, err := runQfw(ctx, testBin.path, append(slices.Clone(p.path), "--help")...)
			if err != nil {
				t.Fatal(err)
			}
			// Each section of the help, in order, on the page; the page
			// puts the usage first.
			at := 0
			for _, line := range strings.Split(string(bytes.TrimSpace(help)), "\n") {
				line = strings.TrimSpace(line)
				if _, ok := manSectionTitles[strings.TrimSuffix(line, ":")]; ok && strings.HasSuffix(line, ":") {
					at = 0
					continue
				}
				if line == "" || strings.HasPrefix(line, `Use "qfw`) {
					continue
				}
				found := slices.IndexFunc(page[at:], func(l string) bool { return strings.TrimSpace(l) == line })
				if found < 0 {
					t.Errorf("help line %q is not on the page after line %d:\n%s", line, at, strings.Join(page, "\n"))
					return
				}
				at += found + 1
			}
		})
	}
}

// TestRenderManPage checks the man(7) source a help text becomes: man's
// sections, escapes, the title line and SEE ALSO.
func TestRenderManPage(t *testing.T) {
	help := `do-it does the thing, with --force
.and a line that man would take for a request,
'and another, and a \ backslash.

Usage:
  qfw tool do-it [flags]

Examples:
  # Do it.
  qfw tool do-it --force

Flags:
  -h, --help   help for do-it

Use "qfw tool do-it [command] --help" for more information about a command.
`
	p := parseHelp([]byte(help))
	p.path, p.short = []string{"tool", "do-it"}, "Do the thing"
	parent := &manPage{path: []string{"tool"}}
	sibling := &manPage{path: []string{"tool", "undo-it"}}
	got := string(p.render([]*manPage{{}, parent, p, sibling}, testTime, "1.3.0"))
	want := `.TH QFW-TOOL-DO-IT 1 "2026-12-03" "qfw 1.3.0" "qfw manual"
.SH NAME
qfw\-tool\-do\-it \- Do the thing
.SH "SYNOPSIS"
.nf
qfw tool do\-it [flags]
.fi
.SH "DESCRIPTION"
.nf
do\-it does the thing, with \-\-force
\&.and a line that man would take for a request,
\&'and another, and a \e backslash.
.fi
.SH "EXAMPLES"
.nf
# Do it.
qfw tool do\-it \-\-force
.fi
.SH "OPTIONS"
.nf
\-h, \-\-help   help for do\-it
.fi
.SH "SEE ALSO"
qfw\-tool(1)
`
	if got != want {
		t.Errorf("render:\n%s\nwant:\n%s", got, want)
	}
}
