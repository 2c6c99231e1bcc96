package main

import (
	"cmp"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/review/diff"
)

type diffFlags struct {
	policyFlags
	json   bool
	format formatValue
}

func newDiffCmd() *cobra.Command {
	f := &diffFlags{format: newFormatValue(formatText, formatMarkdown, formatHTML)}
	cmd := &cobra.Command{
		Use:   "diff BASE HEAD",
		Short: "Say what a change to the policy does to who can reach what",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 2 {
				return fmt.Errorf("diff takes two policies, BASE and HEAD, each a directory or a git revision; got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDiff(cmd, args, f)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&f.json, "json", false, "print the changes as JSON (not with --format)")
	cmd.Flags().Var(&f.format, "format", "print the changes as `FORMAT`: text, markdown (a pull-request comment) or html (qfw graph's page of the changes); not with --json")
	return cmd
}

func runDiff(cmd *cobra.Command, args []string, f *diffFlags) error {
	// Both sides judge expiry at the same time.
	pols, err := diff.Load(args[0], args[1], deploy.BuildOptions{Inventory: f.inventory, Now: f.at()})
	if err != nil {
		return err
	}
	defer pols.Close()
	if pols.Failed() {
		return cmp.Or(pols.WriteErrors(cmd.ErrOrStderr()), errPrinted)
	}
	rep := pols.Compare()
	w := cmd.OutOrStdout()
	switch {
	case f.json:
		err = rep.WriteJSON(w)
	case f.format.Value == formatMarkdown:
		err = rep.WriteMarkdown(w)
	case f.format.Value == formatHTML:
		err = rep.WriteHTML(w)
	default:
		err = rep.WriteText(w)
	}
	if err != nil {
		return err
	}
	if rep.Changed() {
		return errChanges
	}
	return nil
}
