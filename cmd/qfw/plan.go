package main

import (
	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/deploy"
)

type planFlags struct {
	policyFlags
	admin            adminFlags
	state            string
	qube             string
	json             bool
	out              string
	detailedExitcode bool
	dataDir          string
}

func newPlanCmd() *cobra.Command {
	f := &planFlags{}
	cmd := &cobra.Command{
		Use:   "plan [DIR | FILE...]",
		Short: "Show what applying the policy would change on each qube",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPlan(cmd, args, f)
		},
	}
	f.policyFlags.register(cmd)
	f.registerSkipTests(cmd)
	f.admin.register(cmd)
	f.admin.registerKernels(cmd)
	cmd.Flags().StringVar(&f.state, "state", "", "read the current lists from `PATH`, a directory of QUBE.rules files or a JSON file, instead of the Admin API")
	cmd.Flags().StringVar(&f.qube, "qube", "", "plan for the qube `NAME` only")
	cmd.Flags().BoolVar(&f.json, "json", false, "print the plan as JSON")
	cmd.Flags().StringVar(&f.out, "out", "", "save the plan, as JSON, to `FILE`")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", "", "where qfw apply records what it set, in `DIR`, to mark lists edited outside qfw (default $XDG_STATE_HOME/qfw or ~/.local/state/qfw)")
	cmd.Flags().BoolVar(&f.detailedExitcode, "detailed-exitcode", false, "exit 2 when the plan changes something, 0 when it does not")
	return cmd
}

func runPlan(cmd *cobra.Command, args []string, f *planFlags) error {
	if err := deploy.CheckPlanOut(f.out); err != nil {
		return err
	}
	p, err := policyPlan(cmd, args, f)
	if err != nil {
		return err
	}
	var saved []byte
	if f.out != "" || f.json {
		if saved, err = deploy.MarshalPlan(p); err != nil {
			return err
		}
	}
	if f.out != "" {
		if err := deploy.WriteFile(f.out, saved); err != nil {
			return err
		}
	}
	if f.json {
		_, err = cmd.OutOrStdout().Write(saved)
	} else {
		err = p.WriteText(cmd.OutOrStdout())
	}
	if err != nil {
		return err
	}
	if f.detailedExitcode && p.Summary.Changes() {
		return errChanges
	}
	return nil
}

// policyPlan builds the policy that args name and plans it against the
// current lists, as f says where to read them; plan and apply share it.
func policyPlan(cmd *cobra.Command, args []string, f *planFlags) (*deploy.Plan, error) {
	f.policyFlags.qrexec = f.admin.Qrexec
	res, err := build(cmd, args, &f.policyFlags, true)
	if err != nil {
		return nil, err
	}
	return deploy.MakePlan(cmd.Context(), res, &deploy.PlanOptions{
		Admin: f.admin.Admin, State: f.state, Qube: f.qube, DataDir: f.dataDir, Warnings: cmd.ErrOrStderr(),
	})
}
