package main

import (
	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/deploy"
)

const planDoc = `plan compiles the policy and compares each managed qube's rule list with
the one dom0 holds now, and prints what applying the policy would change:
for each qube that changes, its rules in their new order, each marked

  + added      - removed      ~ kept

with the policy rule each new line comes from, then the qubes left as they
are and a summary line. Rules compare by meaning: a list read from dom0
whose options are in another order still matches. Order decides verdicts,
so a rule that moves is removed and added again.

The current lists come from the Admin API (the qubesd socket in dom0, or
qrexec-client-vm with --qrexec from a management qube) or, with --state,
from files, so that CI can plan without Qubes: a directory holding
QUBE.rules for each managed qube (the lines admin.vm.firewall.Get returns,
or the output of qfw compile -o), or a JSON file {"qubes": {"QUBE":
[lines]}}. (qvm-firewall --raw list leaves out dst4=0.0.0.0/0 and
dst6=::/0, so rules kept to one family show as changed.) Each line, from
a file or from dom0, is read with dom0's own grammar: one dom0 would refuse
is an error at its file and line (and column, in JSON); one dom0 takes but
qfw would never write (host bits set, a port written +80) is in force all
the same, so the plan removes it and says where it is and why. With
--state, --qrexec says that a management qube will set the lists: each is
then checked against qubesd's request limit for the longest name such a
qube can have, not for dom0.

apply tags each qube whose list it manages qfw-managed. plan lists the
managed qubes not tagged yet (apply tags them), and each tagged qube that
the policy no longer names: it has left the policy, and keeps the list qfw
last set until qfw apply --release or --reset says what to do with it;
until then it counts as a change for --detailed-exitcode. The summary also
names the networked qubes of the inventory (those with a netvm) that the
policy does not manage. The tags come from the Admin API
(admin.vm.List and admin.vm.tag.List) or, with --state, from the
inventory's tags, which qfw inventory writes.

For a unikernel firewall qube, plan also shows the qube to create, or the
properties and features to fix, and the kernel image to install; it reads
those through the Admin API only, so a plan from --state leaves them out.

--json prints the plan as JSON, with a format_version; --out FILE saves it
so, with each qube's current list hashed (base_hash), to tell later whether
a list changed since the plan was made. qfw apply --plan FILE applies it
exactly as it shows, or refuses it.

A qube whose list is not the one qfw apply last set (as recorded in
--data-dir) is marked as edited outside qfw. A record that does not read
is an error at its line and column, never taken for no record.

The exit code is 0 when the plan succeeds and 1 on errors; with
--detailed-exitcode it is 0 when nothing changes, 1 on errors and 2 when
something changes.`

const planExamples = `  # In CI: plan against the lists exported from the machine.
  qfw plan --state state/ --detailed-exitcode

  # In dom0: plan against the lists in force.
  qfw plan policy/

  # In a management qube, as JSON, saving the plan.
  qfw plan --qrexec --json --out plan.json`

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
		Use:     "plan [DIR | FILE...]",
		Short:   "Show what applying the policy would change on each qube",
		Long:    planDoc,
		Example: planExamples,
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
	f.dataDir = deploy.DataDir(f.dataDir)
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
