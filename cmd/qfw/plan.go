package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

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

// managedTag marks each qube whose list qfw apply set.
const managedTag = deploy.ManagedTag

func runPlan(cmd *cobra.Command, args []string, f *planFlags) error {
	f.dataDir = deploy.DataDir(f.dataDir)
	if err := deploy.CheckPlanOut(f.out); err != nil {
		return err
	}
	p, err := policyPlan(cmd, args, f)
	if err != nil {
		return err
	}
	if f.out != "" {
		b, err := deploy.MarshalPlan(p)
		if err != nil {
			return err
		}
		if err := deploy.WriteFile(f.out, b); err != nil {
			return err
		}
	}
	if f.json {
		b, err := deploy.MarshalPlan(p)
		if err != nil {
			return err
		}
		if _, err := cmd.OutOrStdout().Write(b); err != nil {
			return err
		}
	} else if err := printPlan(cmd.OutOrStdout(), p); err != nil {
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

// printPlan writes p for a reader: each changed qube's edits, with the
// policy rule of every new line, then the unchanged qubes and the summary.
func printPlan(w io.Writer, p *deploy.Plan) error {
	var b strings.Builder
	var unchanged []string
	for _, q := range p.Qubes {
		if !q.Changed {
			unchanged = append(unchanged, q.Name)
			continue
		}
		fmt.Fprintf(&b, "%s:", q.Name)
		if q.EditedAt != nil {
			fmt.Fprintf(&b, " (edited outside qfw since qfw set it at %s)", q.EditedAt.UTC().Format(time.RFC3339))
		}
		b.WriteByte('\n')
		width := 0
		for _, e := range q.Edits {
			if e.Rule != "" || e.Note != "" {
				width = max(width, len(e.Line))
			}
		}
		for _, e := range q.Edits {
			switch {
			case e.Rule != "":
				fmt.Fprintf(&b, "  %s %-*s  # %s\n", e.Op, width, e.Line, e.Rule)
			case e.Note != "":
				fmt.Fprintf(&b, "  %s %-*s  # %s\n", e.Op, width, e.Line, e.Note)
			default:
				fmt.Fprintf(&b, "  %s %s\n", e.Op, e.Line)
			}
		}
		b.WriteByte('\n')
	}
	for _, fp := range p.Firewalls {
		printFirewallPlan(&b, &fp)
	}
	for _, name := range p.Left {
		fmt.Fprintf(&b, "%s: left the policy; qfw set its list and keeps it as it is. To stop managing it: qfw apply --release %s\n\n", name, name)
	}
	var mark []string
	for _, q := range p.Qubes {
		if q.Mark {
			mark = append(mark, q.Name)
		}
	}
	if mark != nil {
		fmt.Fprintf(&b, "To tag %s: %s.\n\n", managedTag, strings.Join(mark, ", "))
	}
	if unchanged != nil {
		slices.Sort(unchanged)
		fmt.Fprintf(&b, "Unchanged: %s.\n\n", strings.Join(unchanged, ", "))
	}
	s := p.Summary
	var tagging string
	if s.Mark > 0 {
		tagging = fmt.Sprintf("%s to tag %s", count(s.Mark, "qube"), managedTag)
	}
	switch {
	case !s.Work():
		verb := "match"
		if s.Unchanged == 1 {
			verb = "matches"
		}
		fmt.Fprintf(&b, "No changes: %s %s the policy", count(s.Unchanged, "qube"), verb)
	case s.Change == 0:
		var parts []string
		if s.Provision > 0 {
			parts = append(parts, count(s.Provision, "firewall qube")+" to provision")
		}
		if tagging != "" {
			parts = append(parts, tagging)
		}
		fmt.Fprintf(&b, "Plan: %s; %s unchanged", strings.Join(parts, "; "), count(s.Unchanged, "qube"))
	default:
		fmt.Fprintf(&b, "Plan: %s to change, %d unchanged; %s to add, %d to remove", count(s.Change, "qube"), s.Unchanged, count(s.Add, "rule"), s.Remove)
		if s.Provision > 0 {
			fmt.Fprintf(&b, "; %s to provision", count(s.Provision, "firewall qube"))
		}
		if tagging != "" {
			b.WriteString("; " + tagging)
		}
	}
	if s.Left > 0 {
		fmt.Fprintf(&b, "; %s left the policy, %s kept", count(s.Left, "qube"), map[bool]string{true: "its list", false: "their lists"}[s.Left == 1])
	}
	b.WriteString(".\n")
	if len(p.Unmanaged) > 0 {
		fmt.Fprintf(&b, "Not managed by the policy: %s (%s).\n", count(len(p.Unmanaged), "networked qube"), strings.Join(p.Unmanaged, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// count returns n and noun, made plural unless n is 1.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// printFirewallPlan writes what a plan does to a unikernel firewall qube,
// if anything.
func printFirewallPlan(b *strings.Builder, fp *deploy.FirewallPlan) {
	if !fp.Changes() {
		if k := fp.Kernel; k != nil && k.Dom0Step != "" {
			fmt.Fprintf(b, "%s (unikernel firewall %s): nothing to change; the kernel image %s is checked here, but dom0's copy is out of sight. If it is not installed yet, run in dom0:\n      %s\n\n", fp.Name, fp.Release, k.Path, k.Dom0Step)
		}
		return
	}
	fmt.Fprintf(b, "%s (unikernel firewall %s):\n", fp.Name, fp.Release)
	if k := fp.Kernel; k != nil {
		switch {
		case k.Install:
			fmt.Fprintf(b, "  + install the kernel image %s into %s (SHA-256 %s, checked)\n", k.Path, k.Target, k.SHA256)
		case k.Dom0Step != "":
			fmt.Fprintf(b, "  + in dom0, install the kernel image %s (SHA-256 %s, checked here):\n      %s\n", k.Path, k.SHA256, k.Dom0Step)
		}
	}
	for _, s := range fp.Steps {
		fmt.Fprintf(b, "  + %s\n", s.Text)
	}
	b.WriteByte('\n')
}
