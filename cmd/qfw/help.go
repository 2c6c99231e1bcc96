package main

import (
	"embed"
	"strings"

	"github.com/spf13/cobra"
)

// helpFiles hold each command's help, in help/NAME.txt, NAME being the
// command's path joined by dashes, as its man page is named:
// qfw-setup-qrexec-policy.txt. A file holds the long help, then, after a
// line "Examples:" that follows an empty line, the examples. Kept as
// text, the help reads and is edited as the manual it becomes.
//
//go:embed help/*.txt
var helpFiles embed.FS

// helpSeparator divides a help file's long help from its examples.
const helpSeparator = "\n\nExamples:\n"

// helpName returns the name of cmd's help file.
func helpName(cmd *cobra.Command) string {
	return "help/" + strings.ReplaceAll(cmd.CommandPath(), " ", "-") + ".txt"
}

// setHelp gives cmd and its subcommands their long help and examples
// from helpFiles. A command without a file keeps none, which
// TestHelpFiles finds.
func setHelp(cmd *cobra.Command) {
	if data, err := helpFiles.ReadFile(helpName(cmd)); err == nil {
		cmd.Long, cmd.Example, _ = strings.Cut(strings.TrimSuffix(string(data), "\n"), helpSeparator)
	}
	for _, c := range cmd.Commands() {
		setHelp(c)
	}
}
