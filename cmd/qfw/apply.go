package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/internal/cliflag"
	"github.com/qfw-dev/qfw/policy/diagnostic"
)

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
		Use:   "apply [DIR | FILE...] --target qubes|nftables",
		Short: "Put the policy in force: each qube's rule list, or a firewall qube's nftables",
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
