package main

import (
	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/internal/cliflag"
)

const compileDoc = `compile compiles the policy and prints what each target needs:

  qubes     per qube, the rule list exactly as admin.vm.firewall.Set takes it
            (and as admin.vm.firewall.Get returns it), one rule per line.
  qubesdb   per firewall qube, the QubesDB entries dom0 writes for each of its
            clients and address families, in write order: the subtree
            removed, the policy, the rules by their index in the full list
            (gaps where a rule belongs to the other family or has expired),
            then the signal key.
  nftables  per firewall qube whose backend is nftables, the nft script of
            qfw's table for its clients (see qfw apply). Host names are
            resolved from the policy's resolve section: a name not pinned
            there is an error, as the table would block its family.
  mirage    per firewall qube whose backend is the unikernel, what its
            release makes of each client's list: the QubesDB entries it
            reads (the IPv4 rules up to the first gap in dom0's numbering),
            and for each rule how it is enforced, or why it is not.

With -o DIR each qube (target qubes) or firewall qube gets a file of its own
in DIR instead: <qube>.rules, <firewall>.qubesdb, <firewall>.nft or
<firewall>.mirage.

--qube is for --target qubes, --firewall for the other targets, and --dns
for --target nftables: given with another target, each is an error rather
than ignored.

Errors and warnings are those of vet. Output is byte-identical for the same
policy, inventory and --now.`

const compileExamples = `  # The rule lists of every managed qube.
  qfw compile

  # One qube's list, ready for admin.vm.firewall.Set.
  qfw compile --qube work

  # What dom0 would write into each firewall qube's QubesDB, as JSON.
  qfw compile --target qubesdb --json

  # One file per qube in ./out.
  qfw compile ./policy -o ./out

  # The nftables ruleset of sys-firewall.
  qfw compile --target nftables --firewall sys-firewall

  # How the unikernel firewall mirage-fw reads and enforces its clients' rules.
  qfw compile --target mirage --firewall mirage-fw`

type compileFlags struct {
	policyFlags
	opts   deploy.CompileOptions
	target targetValue
	outDir string
}

func newCompileCmd() *cobra.Command {
	f := &compileFlags{target: newTargetValue()}
	cmd := &cobra.Command{
		Use:     "compile [DIR | FILE...]",
		Short:   "Compile a policy into Qubes rule lists, QubesDB entries, nftables scripts or the unikernel's reading",
		Long:    compileDoc,
		Example: compileExamples,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCompile(cmd, args, f)
		},
	}
	f.register(cmd)
	f.registerSkipTests(cmd)
	cmd.Flags().Var(&f.target, "target", "compile to `TARGET`: qubes, qubesdb, nftables or mirage")
	cmd.Flags().StringVar(&f.opts.Qube, "qube", "", "only this `QUBE` (target qubes)")
	cmd.Flags().StringVar(&f.opts.Firewall, "firewall", "", "only this firewall qube `NAME` (targets qubesdb, nftables and mirage)")
	cmd.Flags().Var((*cliflag.Addrs)(&f.opts.DNS), "dns", "the DNS servers' `ADDRS`, comma-separated, for the DNS target (target nftables; default: Qubes' virtual servers for a firewall qube with a netvm)")
	cmd.Flags().BoolVar(&f.opts.JSON, "json", false, "print JSON")
	cmd.Flags().StringVarP(&f.outDir, "out", "o", "", "write one file per qube (or firewall qube) into `DIR`")
	return cmd
}

func runCompile(cmd *cobra.Command, args []string, f *compileFlags) error {
	res, err := build(cmd, args, &f.policyFlags, true)
	if err != nil {
		return err
	}
	f.opts.Target, f.opts.Now, f.opts.Warnings = f.target.Value, f.now.t, cmd.ErrOrStderr()
	files, err := deploy.Compile(res, &f.opts)
	switch {
	case err != nil:
		return err
	case !f.opts.JSON && f.outDir != "":
		return deploy.WriteFiles(f.outDir, files)
	case !f.opts.JSON:
		return deploy.WriteText(cmd.OutOrStdout(), files)
	}
	b, err := deploy.MarshalFiles(f.target.Value, files)
	switch {
	case err != nil:
		return err
	case f.outDir != "":
		return deploy.WriteFiles(f.outDir, []deploy.OutFile{{Name: "qfw-" + f.target.String() + ".json", Text: b}})
	}
	_, err = cmd.OutOrStdout().Write(b)
	return err
}
