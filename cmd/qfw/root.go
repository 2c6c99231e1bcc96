package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	cueerrors "cuelang.org/go/cue/errors"
	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/internal/cliflag"
	"github.com/qfw-dev/qfw/policy/diagnostic"
)

// Exit codes, as documented in the README.
const (
	exitOK    = 0
	exitError = 1
	// exitChanges is plan's code, under --detailed-exitcode, for a plan
	// that changes something.
	exitChanges = 2
)

// errPrinted says that the command has printed its errors already and only
// the exit code is left to set.
var errPrinted = errors.New("errors printed")

// printPositioned prints err, if it holds errors at positions in files,
// each at its position as vet prints errors, and returns errPrinted; any
// other error it returns as it is, for run to print.
func printPositioned(cmd *cobra.Command, err error) error {
	if ce, ok := err.(cueerrors.Error); ok {
		diagnostic.WriteErrors(cmd.ErrOrStderr(), cueerrors.Errors(ce))
		return errPrinted
	}
	return err
}

// errChanges says that plan succeeded and found changes, for
// --detailed-exitcode.
var errChanges = errors.New("the plan has changes")

// Main runs qfw with the process's arguments and returns its exit code.
func Main() int {
	return run(os.Args[1:], os.Stdout, os.Stderr)
}

func run(args []string, stdout, stderr io.Writer) int {
	return runIn(args, os.Stdin, stdout, stderr)
}

// runIn is run with the standard input given, for apply's question.
func runIn(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetIn(stdin)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		if errors.Is(err, errChanges) {
			return exitChanges
		}
		if !errors.Is(err, errPrinted) {
			fmt.Fprintf(stderr, "qfw: %v\n", err)
		}
		return exitError
	}
	return exitOK
}

// newRootCmd builds a fresh command tree: no state is shared between runs.
func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "qfw",
		Short:         "Compile Qubes OS firewall policy written in CUE",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(newVetCmd(), newCompileCmd(), newTestCmd(), newExplainCmd(), newPlanCmd(), newApplyCmd(), newConfirmCmd(), newInventoryCmd(), newImportCmd())
	root.AddCommand(newDiffCmd(), newShowCmd(), newGraphCmd(), newSetupCmd(), newVersionCmd(), newCompletionCmd())
	root.AddCommand(newAgentCmd())
	root.AddCommand(newWhoCanReachCmd())
	setHelp(root)
	// Every command's flags are checked, alone and together, before it
	// runs: a flag given twice, out of range or ignored is an error.
	cliflag.Guard(root)
	root.SetFlagErrorFunc(cliflag.ErrorFunc)
	root.PersistentPreRunE = checkFlags
	return root
}
