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
// API: it makes the plan (or reads the saved one), shows it, asks for
// "yes", checks every kernel image the plan installs, and hands the plan
// to deploy.Apply.
func applyQubes(cmd *cobra.Command, args []string, f *applyFlags) error {
	f.dataDir = deploy.DataDir(f.dataDir)
	var p *deploy.Plan
	var err error
	switch {
	case f.plan == "":
		p, err = policyPlan(cmd, args, &planFlags{policyFlags: f.policyFlags, admin: f.admin, qube: f.qube, dataDir: f.dataDir})
	case len(args) > 0:
		return fmt.Errorf("--plan %s: give the plan or the policy, not both", f.plan)
	case f.qube != "":
		return fmt.Errorf("--plan %s: a saved plan is applied whole; plan with --qube %s instead", f.plan, f.qube)
	default:
		p, err = f.admin.ReadSavedPlan(f.plan)
	}
	if err != nil {
		return err
	}
	if err := deploy.CheckRelease(p, f.release, f.reset); err != nil {
		return err
	}
	o := &deploy.ApplyOptions{
		Admin: f.admin.Admin, PlanFile: f.plan, Release: f.release, Reset: f.reset,
		DataDir: f.dataDir, Lock: f.lock, RefuseDrift: f.refuseDrift, ConfirmTimeout: f.confirmTimeout,
		Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr(), Progress: isTerminal(cmd.ErrOrStderr()),
	}
	if err := printPlan(o.Stdout, p); err != nil {
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
