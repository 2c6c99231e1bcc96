package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/internal/cliflag"
	"github.com/qfw-dev/qfw/policy/diagnostic"
)

const applyDoc = `apply compiles the policy and puts it in force.

With --target qubes, the default, in dom0 (or in a management qube, with
--qrexec), it sets each managed qube's rule list through the Admin API. It
makes the plan that qfw plan prints (or takes the one --plan FILE saved),
shows it, and asks for a literal "yes" unless --auto-approve is given. Then, for each qube that
changes, it reads the qube's list again and refuses to replace it if it
changed since the plan was made (a stale plan: plan again), and otherwise
replaces it with one admin.vm.firewall.Set, which dom0 applies whole or not
at all. A failure on one qube does not stop the others: each is reported in
the final table and together in the errors, and a qube whose Set failed
keeps its previous list. A lock (--lock FILE) keeps two applies apart.

A saved plan is applied exactly as it shows, or refused whole before
anything is sent, naming the field that is wrong: its format version must
be known; every field is one qfw writes; every rule passes the checks
compile's output passes, written as qfw writes it; the rules it sends are
the lines its edits keep and add, and its counts are its edits'; each qube
exists in dom0, and each qube it changes has the netvm the plan says; and
for each qube still at its base_hash, the edits are exactly what replacing
dom0's list with the rules does. A unikernel firewall qube's plan must
want the state qfw plans for it, its kernel image must go into
--kernels-dir and be installed as the plan shows (a plan made in a
management qube is not applied in dom0, nor the other way round), and
only the steps it shows are taken: a qube changed since is refused as a
stale plan. With --reset and --confirm-timeout, a qube whose list goes
back gets its tag qfw-managed back too.

Before it sets a qube's list, apply tags the qube qfw-managed
(admin.vm.tag.Set), and it tags the managed qubes whose lists already
match. A qube tagged so that the policy no longer names keeps its list,
with a warning: --release QUBE removes its tag and keeps its list; --reset
QUBE sets its list to action=drop, blocking all its traffic, and removes
its tag.

qfw records the hash of each list it sets (in --data-dir). A list changed
since was edited by hand: apply warns and replaces it, or with
--refuse-drift leaves that qube alone. With --confirm-timeout, apply waits
for qfw confirm after setting the lists, and without it puts every qube it
changed back to its previous list.

A unikernel firewall qube (firewalls: NAME: backend: mirage: {...}) is
provisioned after the rule lists, and only if its clients' lists were all
set (with --confirm-timeout, once they are confirmed), so that its new
settings never reach clients on their old lists. Its kernel image
(kernel: path) is checked against the pinned SHA-256 (kernel: sha256, or
the release's published hash) before anything at all changes, and an image
that does not match is refused with both hashes. In dom0 the image is then written to a temporary file in
--kernels-dir and renamed into place. A management qube cannot write
dom0's files: there qfw installs nothing after the check, and prints the
one dom0 step left (until it is done, dom0 refuses the qube's kernel
property, and apply says so). Then the qube is created if it does not
exist, and its features and properties are set to what the unikernel
needs (kernel, empty kernelopts, 32 MB, one vCPU, pvh, provides network,
its netvm, no audiovm, the features qubes-firewall, no-default-kernelopts
and skip-update). A qube that needs a restart for its new settings is not
restarted, as that would cut its clients off: apply says so.

A qube's list is checked for the unikernel once the inventory puts the
qube behind it: after moving a qube onto a new unikernel firewall, refresh
the inventory and plan again.

With --target nftables, it runs in the firewall qube: it replaces qfw's
nftables table (table inet qfw) with the one for the firewall qube's
clients, in one netlink transaction, in the current network namespace or
the one --netns names, and reads it back. It reports which chains it added,
changed and removed.

It fails closed. If the kernel refuses the transaction, the previous table
stays in force. If the kernel does not hold what was sent, qfw replaces its
table with one that drops all traffic from clients, and exits 1. Once the
new table is in force, it ends the tracked connections that the new rules
forbid, as the Linux agent does: otherwise they would go on.

Host names are resolved when the table is built: --resolve live (the
default) asks the system's resolver, as the Linux agent does; --resolve
policy takes the policy's resolve section. An allow to a name with no
address in a family allows nothing of that family, and a deny to one blocks
its client's traffic of that family, each with a warning.

With --qube, only that client's chains, sets and map entries are replaced,
in one transaction; the rest of the table stays as it is.`

const applyExamples = `  # In dom0: show the plan, and set the lists that change once you say yes.
  qfw apply --target qubes policy/

  # Apply the plan saved in review, refusing qubes changed since.
  qfw plan policy/ --out plan.json
  qfw apply --target qubes --plan plan.json --auto-approve

  # Stop managing a qube taken out of the policy, keeping its list.
  qfw apply --target qubes policy/ --release old-project

  # In sys-firewall: enforce the policy for its clients.
  qfw apply --target nftables --firewall sys-firewall

  # In a network namespace, with names as the policy pins them.
  qfw apply --target nftables --firewall sys-firewall --netns fw --resolve policy

  # Update one client only.
  qfw apply --target nftables --firewall sys-firewall --qube work`

type applyFlags struct {
	policyFlags
	admin adminFlags
	// qubes and nftables are the options of each target that the flags
	// set; apply fills in the rest when it runs.
	qubes       deploy.ApplyOptions
	nftables    deploy.NftablesOptions
	autoApprove bool
	target      targetValue
	qube        string
	netns       string
	resolve     string
}

func newApplyCmd() *cobra.Command {
	f := &applyFlags{target: newTargetValue(), resolve: "live"}
	cmd := &cobra.Command{
		Use:     "apply [DIR | FILE...] --target qubes|nftables",
		Short:   "Put the policy in force: each qube's rule list, or a firewall qube's nftables",
		Long:    applyDoc,
		Example: applyExamples,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runApply(cmd, args, f)
		},
	}
	f.register(cmd)
	f.registerSkipTests(cmd)
	cmd.Flags().Var(&f.target, "target", "apply to `TARGET`: qubes (rule lists, through the Admin API) or nftables")
	f.admin.register(cmd)
	f.admin.registerKernels(cmd)
	cmd.Flags().StringVar(&f.qubes.PlanFile, "plan", "", "apply the plan saved in `FILE` by qfw plan --out (target qubes)")
	cmd.Flags().StringArrayVar(&f.qubes.Release, "release", nil, "stop managing `QUBE`, which left the policy: remove its tag qfw-managed and keep its list (target qubes; repeatable)")
	cmd.Flags().StringArrayVar(&f.qubes.Reset, "reset", nil, "set the list of `QUBE`, which left the policy, to action=drop, blocking all its traffic, and stop managing it (target qubes; repeatable)")
	cmd.Flags().BoolVar(&f.autoApprove, "auto-approve", false, "apply without asking (target qubes)")
	cmd.Flags().StringVar(&f.qubes.DataDir, "data-dir", "", "keep what qfw applied in `DIR`, to detect hand edits (target qubes; default $XDG_STATE_HOME/qfw or ~/.local/state/qfw)")
	cmd.Flags().BoolVar(&f.qubes.RefuseDrift, "refuse-drift", false, "leave unchanged the qubes whose rules were edited outside qfw since it last set them, instead of warning (target qubes)")
	cmd.Flags().DurationVar(&f.qubes.ConfirmTimeout, "confirm-timeout", 0, "put every changed qube back to its previous list unless qfw confirm runs within `DURATION` (target qubes)")
	cmd.Flags().StringVar(&f.qubes.Lock, "lock", "", "the lock `FILE` that keeps two applies apart (target qubes; default $XDG_RUNTIME_DIR/qfw-apply.lock)")
	cmd.Flags().StringVar(&f.nftables.Firewall, "firewall", "", "the firewall qube `NAME` whose clients' rules to apply")
	cmd.Flags().StringVar(&f.qube, "qube", "", "update only the qube `QUBE` (for nftables: that client of the firewall qube)")
	cmd.Flags().StringVar(&f.netns, "netns", "", "apply in the network namespace `NS` (under /run/netns)")
	cmd.Flags().Var((*cliflag.Addrs)(&f.nftables.DNS), "dns", "the DNS servers' `ADDRS`, comma-separated, for the DNS target (default: Qubes' virtual servers for a firewall qube with a netvm)")
	cmd.Flags().StringVar(&f.resolve, "resolve", "live", "resolve host names `FROM` live (the system's resolver) or policy (its resolve section)")
	return cmd
}

// targetFlags are the flags that only one apply target reads.
var targetFlags = []struct {
	target deploy.Target
	names  []string
}{
	{deploy.TargetQubes, []string{"plan", "auto-approve", "data-dir", "refuse-drift", "confirm-timeout", "lock", "release", "reset", "socket", "qrexec", "qrexec-client", "kernels-dir"}},
	{deploy.TargetNftables, []string{"firewall", "netns", "dns", "resolve"}},
}

func runApply(cmd *cobra.Command, args []string, f *applyFlags) error {
	// A flag the target does not read would be silently ignored.
	for _, tf := range targetFlags {
		for _, name := range tf.names {
			if tf.target != f.target.Value && cmd.Flags().Changed(name) {
				return fmt.Errorf("--%s is for --target %s only", name, tf.target.String())
			}
		}
	}
	switch {
	case f.target.Value == deploy.TargetQubes:
		return applyQubes(cmd, args, f)
	case f.target.Value != deploy.TargetNftables:
		return fmt.Errorf("--target %s: apply supports qubes and nftables", f.target.String())
	case f.nftables.Firewall == "":
		return fmt.Errorf("--target nftables: give the firewall qube with --firewall NAME")
	}
	if f.resolve != "live" && f.resolve != "policy" {
		return fmt.Errorf("--resolve %s: want live or policy", f.resolve)
	}
	res, err := build(cmd, args, &f.policyFlags, true)
	if err != nil {
		return err
	}
	o := &f.nftables
	o.Qube, o.LiveResolve, o.Now, o.Warnings = f.qube, f.resolve == "live", f.now.t, cmd.ErrOrStderr()
	a, warnings, err := deploy.PrepareNftables(res, o)
	if err != nil {
		return err
	}
	diagnostic.WriteWarnings(cmd.ErrOrStderr(), warnings)
	return a.Apply(f.netns, cmd.OutOrStdout())
}
