package graph

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
)

// colours are the verdicts' colours and line styles, in the page and in
// DOT: a style as well as a colour, for those who do not tell the colours
// apart.
var colours = [numVerdicts]struct{ colour, dot, dash string }{
	Accept: {"#1a7f37", "solid", ""},
	Deny:   {"#cf222e", "dashed", "7 4"},
	Refuse: {"#8250df", "dotted", "2 3"},
	Gained: {"#1a7f37", "bold", ""},
	Lost:   {"#cf222e", "dashed", "7 4"},
}

// WriteDOT writes g as a Graphviz digraph: qubes, firewall qubes and
// destinations in ranks from left to right, each qube joined to its
// firewall qube, and an edge from a qube to each set of destinations,
// labelled with the services, coloured and styled by the verdict, its
// tooltip saying which rule decides it.
func (g *Graph) WriteDOT(w io.Writer) error {
	b := bufio.NewWriter(w)
	// The title is a comment, which a line break would end.
	fmt.Fprintf(b, "// %s\n", strings.Join(strings.Fields(g.Title), " "))
	b.WriteString("digraph qfw {\n")
	b.WriteString("\trankdir=LR;\n\tnewrank=true;\n")
	b.WriteString("\tnode [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"monospace\"];\n")
	b.WriteString("\tedge [fontname=\"monospace\", fontsize=10];\n")
	for _, k := range []Kind{QubeNode, FirewallNode, DestNode} {
		if !slices.ContainsFunc(g.Nodes, func(n Node) bool { return n.Kind == k }) {
			continue
		}
		fmt.Fprintf(b, "\t{\n\t\trank=same;\n")
		for i := range g.Nodes {
			n := &g.Nodes[i]
			if n.Kind != k {
				continue
			}
			var label, attrs string
			switch k {
			case QubeNode:
				label = n.Name + "\n" + n.Detail
				attrs = ", fillcolor=\"#ddf4ff\""
			case FirewallNode:
				label = n.Name + "\n" + n.Detail
				attrs = ", shape=box3d, fillcolor=\"#fff8c5\""
			default:
				label = strings.Join(n.Lines, "\n")
				attrs = ", shape=note"
			}
			fmt.Fprintf(b, "\t\t%s [label=%s, tooltip=%s%s];\n", quote(n.ID), quote(label), quote(kindTitle(n)), attrs)
		}
		b.WriteString("\t}\n")
	}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if n.Kind == QubeNode && n.Via != "" {
			fmt.Fprintf(b, "\t%s -> %s [color=\"#8c959f\", arrowhead=none, tooltip=%s];\n",
				quote(n.ID), quote(n.Via), quote(n.Detail))
		}
	}
	for i := range g.Edges {
		e := &g.Edges[i]
		c := colours[e.Verdict]
		fmt.Fprintf(b, "\t%s -> %s [label=%s, color=%q, fontcolor=%q, style=%s, tooltip=%s];\n",
			quote(e.From), quote(e.To), quote(edgeLabel(e)), c.colour, c.colour, c.dot, quote(edgeTitle(g, e)))
	}
	b.WriteString("}\n")
	return b.Flush()
}

// kindTitle describes a node for its tooltip.
func kindTitle(n *Node) string {
	switch n.Kind {
	case QubeNode:
		return "qube " + n.Name + ", " + n.Detail
	case FirewallNode:
		return "firewall qube " + n.Name + " (" + n.Detail + ")"
	}
	return "destinations " + n.Name
}

// edgeTitle says all of an edge: "work, behind sys-firewall: accept tcp
// 22 to 140.82.121.3 by allow.git (qubes.cue:14:10)".
func edgeTitle(g *Graph, e *Edge) string {
	from, via, to := g.Node(e.From), g.Node(e.Via), g.Node(e.To)
	s := fmt.Sprintf("%s, behind %s: %s %s to %s", from.Name, via.Name, e.Verdict, e.Services, to.Name)
	if e.Except != "" {
		s += ", except " + e.Except
	}
	if e.Verdict != Accept && e.Verdict != Deny {
		return s + ": " + e.Why
	}
	return s + " " + e.Why
}

// quote returns s as a DOT string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
