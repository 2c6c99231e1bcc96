package main

import (
	"io"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestHelpFiles checks that every command has a help file, with long help
// and examples, and every help file a command.
func TestHelpFiles(t *testing.T) {
	var used []string
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		used = append(used, helpName(cmd))
		if cmd.Long == "" {
			t.Errorf("%s: no long help; want a file %s", cmd.CommandPath(), helpName(cmd))
		}
		// Those with subcommands show the subcommands' examples.
		if cmd.Example == "" && !cmd.HasSubCommands() {
			t.Errorf("%s: no examples; want them in %s after %q", cmd.CommandPath(), helpName(cmd), helpSeparator)
		}
		if strings.Contains(cmd.Long, "Examples:") || strings.HasSuffix(cmd.Long, "\n") {
			t.Errorf("%s: the long help holds the examples, or ends in an empty line", cmd.CommandPath())
		}
		// Prose fits a terminal of 80 columns, as man pages indent it;
		// indented lines, commands and tables, may be longer.
		for l := range strings.Lines(cmd.Long) {
			if len(l) > 77 && !strings.HasPrefix(l, " ") {
				t.Errorf("%s: a line of %d characters in %s: %q", cmd.CommandPath(), len(l)-1, helpName(cmd), l)
			}
		}
		for _, c := range cmd.Commands() {
			walk(c)
		}
	}
	walk(newRootCmd(io.Discard, io.Discard))
	files, err := fs.Glob(helpFiles, "help/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !slices.Contains(used, f) {
			t.Errorf("%s is the help of no command", f)
		}
	}
}
