package main

import (
	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/review/graph"
)

type graphFlags struct {
	policyFlags
	format formatValue
	qubes  []string
}

func newGraphCmd() *cobra.Command {
	f := &graphFlags{format: newFormatValue(formatHTML, formatDOT)}
	cmd := &cobra.Command{
		Use:   "graph [DIR | FILE...]",
		Short: "Draw who can reach what, as an HTML page or a Graphviz graph",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGraph(cmd, args, f)
		},
	}
	f.register(cmd)
	cmd.Flags().Var(&f.format, "format", "write the graph as `FORMAT`: html (a page that works offline) or dot (Graphviz)")
	cmd.Flags().StringArrayVar(&f.qubes, "qube", nil, "draw only `QUBE` (repeat for more)")
	return cmd
}

func runGraph(cmd *cobra.Command, args []string, f *graphFlags) error {
	res, err := build(cmd, args, &f.policyFlags, false)
	if err != nil {
		return err
	}
	g, err := graph.Policy(graph.Title(args), res.Program, res.Mirage, f.qubes, res.Now.Unix(), deploy.DescribeRule)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if f.format.Value == formatDOT {
		return g.WriteDOT(w)
	}
	return g.WriteHTML(w)
}
