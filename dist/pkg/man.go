package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// rootShort is what qfw(1) says qfw is, in its NAME section, which qfw's
// help does not print.
const rootShort = "compile, plan and apply Qubes OS firewall policy written in CUE"

// helpCommand is cobra's help command, which is no page of its own: qfw
// help CMD is qfw CMD --help.
const helpCommand = "help"

// manPage is one command's page, read from its --help.
type manPage struct {
	// path is the command's words after qfw: nil for qfw itself.
	path []string
	// short is the command's one line, from its parent's list.
	short string
	// intro is the help before its first section (Usage:).
	intro []string
	// sections are the help's sections in order, each a title (Usage,
	// Examples, Flags, Available Commands, ...) and its indented lines.
	sections []helpSection
}

type helpSection struct {
	title string
	lines []string
}

// name is the page's name: qfw, qfw-vet, qfw-setup-qrexec-policy.
func (p *manPage) name() string { return strings.Join(append([]string{"qfw"}, p.path...), "-") }

// readManPages reads the help of qfw and of every command under it,
// depth first, each page after its parent.
func readManPages(ctx context.Context, bin string) ([]*manPage, error) {
	var pages []*manPage
	var read func(path []string, short string) error
	read = func(path []string, short string) error {
		out, err := runQfw(ctx, bin, append(slices.Clone(path), "--help")...)
		if err != nil {
			return err
		}
		p := parseHelp(out)
		p.path, p.short = path, short
		pages = append(pages, p)
		for _, s := range p.sections {
			if s.title != "Available Commands" {
				continue
			}
			for _, line := range s.lines {
				name, short, _ := strings.Cut(strings.TrimSpace(line), " ")
				if name == "" || name == helpCommand {
					continue
				}
				if err := read(append(slices.Clone(path), name), strings.TrimSpace(short)); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := read(nil, rootShort); err != nil {
		return nil, err
	}
	return pages, nil
}

// parseHelp splits cobra's help text into the text before its first
// section and its sections: a section starts with a title line, "Title:"
// at the start of the line, and runs until the next.
func parseHelp(help []byte) *manPage {
	p := &manPage{}
	sc := bufio.NewScanner(bytes.NewReader(help))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " ")
		if strings.HasPrefix(line, `Use "`) && strings.HasSuffix(line, "for more information about a command.") {
			// cobra's footer, which the pages' SEE ALSO replaces.
			continue
		}
		if title, ok := strings.CutSuffix(line, ":"); ok && title != "" && !strings.HasPrefix(title, " ") && !strings.Contains(title, ":") &&
			(len(p.sections) > 0 || title == "Usage") {
			p.sections = append(p.sections, helpSection{title: title})
			continue
		}
		if n := len(p.sections); n > 0 {
			p.sections[n-1].lines = append(p.sections[n-1].lines, line)
		} else {
			p.intro = append(p.intro, line)
		}
	}
	return p
}

// manSectionTitles name the help's sections as man pages do.
var manSectionTitles = map[string]string{
	"Usage":                  "SYNOPSIS",
	"Aliases":                "ALIASES",
	"Examples":               "EXAMPLES",
	"Available Commands":     "COMMANDS",
	"Flags":                  "OPTIONS",
	"Global Flags":           "GLOBAL OPTIONS",
	"Additional help topics": "SEE ALSO",
}

// render writes the page as man(7) source: the help's text as it is,
// preformatted, under man's section names, with a SEE ALSO of the pages
// around it. date and version go in its title line.
func (p *manPage) render(pages []*manPage, date time.Time, version string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, ".TH %s 1 %q %q \"qfw manual\"\n", strings.ToUpper(p.name()), date.UTC().Format("2006-01-02"), "qfw "+version)
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", roff(p.name()), roff(p.short))
	sections := p.sections
	if len(sections) > 0 && sections[0].title == "Usage" {
		writeSection(&b, "SYNOPSIS", sections[0].lines)
		sections = sections[1:]
	}
	writeSection(&b, "DESCRIPTION", p.intro)
	for _, s := range sections {
		title, ok := manSectionTitles[s.title]
		if !ok {
			title = strings.ToUpper(s.title)
		}
		writeSection(&b, title, s.lines)
	}
	var see []string
	for _, q := range pages {
		if q != p && (len(q.path) == len(p.path)+1 && slices.Equal(q.path[:len(p.path)], p.path) ||
			len(p.path) > 0 && slices.Equal(q.path, p.path[:len(p.path)-1])) {
			see = append(see, q.name()+"(1)")
		}
	}
	if len(see) > 0 {
		fmt.Fprintf(&b, ".SH \"SEE ALSO\"\n%s\n", roff(strings.Join(see, ", ")))
	}
	return b.Bytes()
}

// writeSection writes lines, without the help's indent and the blank
// lines around them, preformatted as they are.
func writeSection(b *bytes.Buffer, title string, lines []string) {
	for len(lines) > 0 && lines[0] == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) == 0 {
		return
	}
	indent := -1
	for _, l := range lines {
		if t := strings.TrimLeft(l, " "); t != "" && (indent < 0 || len(l)-len(t) < indent) {
			indent = len(l) - len(t)
		}
	}
	fmt.Fprintf(b, ".SH %q\n.nf\n", title)
	for _, l := range lines {
		if len(l) >= indent {
			l = l[indent:]
		}
		b.WriteString(roff(l))
		b.WriteByte('\n')
	}
	b.WriteString(".fi\n")
}

// roff escapes text for man(7): a backslash is \e, a "-" is \- (a minus,
// which copies as one, not a hyphen), and a line that starts with a
// control character starts with \& instead.
func roff(s string) string {
	s = strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// writeManPages writes each page gzipped into dir, as name.1.gz, and
// returns the files in the order of pages. gzip records no name and no
// time: the same page gives the same bytes.
func writeManPages(pages []*manPage, dir string, date time.Time, version string) ([]string, error) {
	var files []string
	for _, p := range pages {
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if err != nil {
			return nil, err
		}
		if _, err := zw.Write(p.render(pages, date, version)); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		file := filepath.Join(dir, p.name()+".1.gz")
		if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
		files = append(files, file)
	}
	return files, nil
}
