package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/qfw-dev/qfw/deploy"
)

// applyQubes puts each managed qube's rule list in force through the Admin
// API: it makes the plan (or reads the saved one), shows it with what
// becomes of the qubes that left the policy, checks every kernel image the
// plan installs, asks for "yes", and hands the plan to deploy.Apply.
func applyQubes(cmd *cobra.Command, args []string, f *applyFlags) error {
	o := &f.qubes
	var p *deploy.Plan
	var err error
	switch {
	case o.PlanFile == "":
		p, err = policyPlan(cmd, args, &planFlags{policyFlags: f.policyFlags, admin: f.admin, qube: f.qube, dataDir: o.DataDir})
	case len(args) > 0:
		return fmt.Errorf("--plan %s: give the plan or the policy, not both", o.PlanFile)
	case f.qube != "":
		return fmt.Errorf("--plan %s: a saved plan is applied whole; plan with --qube %s instead", o.PlanFile, f.qube)
	default:
		p, err = f.admin.ReadSavedPlan(o.PlanFile)
	}
	if err != nil {
		return err
	}
	if err := deploy.CheckRelease(p, o.Release, o.Reset); err != nil {
		return err
	}
	o.Admin, o.Stdout, o.Stderr, o.Progress = f.admin.Admin, cmd.OutOrStdout(), cmd.ErrOrStderr(), isTerminal(cmd.ErrOrStderr())
	if err := p.WriteText(o.Stdout); err != nil {
		return err
	}
	if o.WriteLeft(p); !o.Work(p) {
		return nil
	}
	if err := f.admin.CheckImages(p.Firewalls); err != nil {
		return err
	}
	if !f.autoApprove {
		fmt.Fprint(o.Stdout, "\nApply these changes? Only 'yes' is accepted: ")
		answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		if strings.TrimSpace(answer) != "yes" {
			return errors.New("apply cancelled; nothing changed")
		}
	}
	return deploy.Apply(cmd.Context(), p, o)
}

// isTerminal reports whether w is a terminal, where progress is shown.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
