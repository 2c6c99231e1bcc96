package main

import (
	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/review/graph"
)

const graphDoc = `graph draws who can reach what: every qube of the policy, the firewall
qube that enforces its rules, and the destinations its packets reach or
are denied. Each edge is a line of qfw show: services to destinations,
decided by one rule, labelled with the services and coloured by the
verdict (accepted; denied by a deny rule or by the firewall qube itself;
refused, when the firewall qube refuses a whole list). Packets that no
rule matches are dropped and not drawn.

It is computed exactly over the whole packet space, with each qube's
lists judged as its firewall qube enforces them, as show does.

--format html (the default) writes one HTML page that holds its drawing,
styles and script: it loads nothing, and its content security policy
forbids it to, so it works from a file and offline. Its filters show the
edges of a qube (or of a firewall qube's clients), of a destination (an
address or prefix that shares addresses with the destinations, or text of
them) and of each verdict; a click on a node, or Enter, filters by it. A
table below the drawing lists the edges with the rules that decide them.
--format dot writes a Graphviz digraph of the same graph.

--qube limits the graph to the qubes named. The output is the same, byte
for byte, for the same policy.`

const graphExamples = `  # A page to open in a browser.
  qfw graph > graph.html

  # The policy in ./policy, drawn by Graphviz.
  qfw graph ./policy --format dot | dot -Tsvg > graph.svg

  # Only work and personal.
  qfw graph --qube work --qube personal > graph.html`

type graphFlags struct {
	policyFlags
	format formatChoice
	qubes  []string
}

func newGraphCmd() *cobra.Command {
	f := &graphFlags{format: formatChoice{"html", []string{"html", "dot"}}}
	cmd := &cobra.Command{
		Use:     "graph [DIR | FILE...]",
		Short:   "Draw who can reach what, as an HTML page or a Graphviz graph",
		Long:    graphDoc,
		Example: graphExamples,
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
	g, err := graph.Policy(graph.Title(args), res.Program, f.qubes, f.now.t.Unix(), deploy.DescribeRule)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if f.format.name == "dot" {
		return g.WriteDOT(w)
	}
	return g.WriteHTML(w)
}
