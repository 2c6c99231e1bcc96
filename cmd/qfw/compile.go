package main

import (
	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/internal/cliflag"
)

type compileFlags struct {
	policyFlags
	opts   deploy.CompileOptions
	target targetValue
	outDir string
}

func newCompileCmd() *cobra.Command {
	f := &compileFlags{target: newTargetValue()}
	cmd := &cobra.Command{
		Use:   "compile [DIR | FILE...]",
		Short: "Compile a policy into Qubes rule lists, QubesDB entries, nftables scripts or the unikernel's reading",
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
