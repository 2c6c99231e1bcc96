package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
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
	if f.plan != "" {
		if len(args) > 0 {
			return fmt.Errorf("--plan %s: give the plan or the policy, not both", f.plan)
		}
		if f.qube != "" {
			return fmt.Errorf("--plan %s: a saved plan is applied whole; plan with --qube %s instead", f.plan, f.qube)
		}
		var err error
		if p, err = deploy.ReadPlan(f.plan); err != nil {
			return err
		}
		if err := f.admin.CheckSavedFirewalls(f.plan, p); err != nil {
			return err
		}
	} else {
		var err error
		p, err = policyPlan(cmd, args, &planFlags{policyFlags: f.policyFlags, admin: f.admin, qube: f.qube, dataDir: f.dataDir})
		if err != nil {
			return err
		}
	}
	if err := deploy.CheckRelease(p, f.release, f.reset); err != nil {
		return err
	}
	stdout := cmd.OutOrStdout()
	if err := printPlan(stdout, p); err != nil {
		return err
	}
	for _, name := range p.Left {
		switch {
		case slices.Contains(f.release, name):
			fmt.Fprintf(stdout, "%s: --release: its tag %s goes, its list stays as it is.\n", name, managedTag)
		case slices.Contains(f.reset, name):
			fmt.Fprintf(stdout, "%s: --reset: its list becomes %q, which blocks all its traffic, and its tag %s goes.\n", name, deploy.ResetLine, managedTag)
		default:
			fmt.Fprintf(cmd.ErrOrStderr(), "qfw: warning: %s left the policy; apply keeps its list as it is (--release %s stops managing it, --reset %s blocks its traffic)\n", name, name, name)
		}
	}
	if !p.Summary.Work() && len(f.release)+len(f.reset) == 0 {
		return nil
	}
	if err := f.admin.CheckImages(p.Firewalls); err != nil {
		return err
	}
	if !f.autoApprove {
		fmt.Fprint(stdout, "\nApply these changes? Only 'yes' is accepted: ")
		answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		if strings.TrimSpace(answer) != "yes" {
			return errors.New("apply cancelled; nothing changed")
		}
	}
	return deploy.Apply(cmd.Context(), p, &deploy.ApplyOptions{
		Admin: f.admin.Admin, PlanFile: f.plan, Release: f.release, Reset: f.reset,
		DataDir: f.dataDir, Lock: f.lock, RefuseDrift: f.refuseDrift, ConfirmTimeout: f.confirmTimeout,
		Stdout: stdout, Stderr: cmd.ErrOrStderr(), Progress: isTerminal(cmd.ErrOrStderr()),
	})
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
