package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

const completionDoc = `completion prints the script with which SHELL (bash, zsh or fish) completes
qfw's commands, flags, flag values and file arguments as you type. The
script asks qfw itself what to offer, so it stays right across upgrades.

The packages install the scripts where each shell finds them; the examples
below install them by hand.`

const completionExamples = `  # bash: this shell only, then every new shell of this user.
  source <(qfw completion bash)
  mkdir -p ~/.local/share/bash-completion/completions
  qfw completion bash > ~/.local/share/bash-completion/completions/qfw

  # zsh: a directory in $fpath (compinit must run in ~/.zshrc).
  qfw completion zsh > "${fpath[1]}/_qfw"

  # fish
  qfw completion fish > ~/.config/fish/completions/qfw.fish`

func newCompletionCmd() *cobra.Command {
	return &cobra.Command{
		Use:       "completion bash|zsh|fish",
		Short:     "Print the shell completion script for bash, zsh or fish",
		Long:      completionDoc,
		Example:   completionExamples,
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("completion takes one shell, bash, zsh or fish; got %d arguments", len(args))
			}
			return nil
		},
		// Descriptions are on: qfw's Short lines are written to be read
		// in a menu.
		RunE: func(cmd *cobra.Command, args []string) error {
			root, w := cmd.Root(), cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(w, true)
			case "zsh":
				return root.GenZshCompletion(w)
			case "fish":
				return root.GenFishCompletion(w, true)
			}
			return fmt.Errorf("no completion for shell %q; want bash, zsh or fish", args[0])
		},
	}
}
