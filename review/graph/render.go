package graph

import (
	"html/template"
	"strings"
)

// The drawing's many elements are written here rather than by the page's
// template, which is several times slower for a thousand qubes' edges.
// Every text is escaped as html/template escapes an attribute value or a
// text node: the page's text comes from the policy.

var esc = template.HTMLEscapeString

// linksHTML returns the links of qubes to their firewall qubes.
func linksHTML(d *drawing) template.HTML {
	var b strings.Builder
	for _, l := range d.Links {
		b.WriteString("\n<path class=\"link\" d=\"" + l.Path + "\" data-from=\"" + l.FromDOM + "\" data-via=\"" + l.ViaDOM +
			"\" data-qube=\"" + esc(l.Qube) + "\" data-firewall=\"" + esc(l.Firewall) + "\"><title>" +
			esc(l.Qube) + " has netvm " + esc(l.Firewall) + "</title></path>")
	}
	return template.HTML(b.String())
}

// edgesHTML returns the edges, each a group of its tooltip, its path and
// its label.
func edgesHTML(d *drawing) template.HTML {
	var b strings.Builder
	for i := range d.Edges {
		e := &d.Edges[i]
		v := e.Verdict.String()
		b.WriteString("\n<g class=\"edge " + v + "\" id=\"" + e.DOMID + "\" data-verdict=\"" + v + "\" data-from=\"" + e.FromDOM +
			"\" data-via=\"" + e.ViaDOM + "\" data-dest=\"" + e.Dest + "\" data-qube=\"" + esc(e.Qube) + "\" data-firewall=\"" +
			esc(e.Firewall) + "\"><title>" + esc(e.Title) + "</title><path d=\"" + e.Path + "\" marker-end=\"url(#arrow-" + v +
			")\"/><text class=\"label\" x=\"" + num(e.LabelX) + "\" y=\"" + num(e.LabelY) + "\">" + esc(e.Label) + "</text></g>")
	}
	return template.HTML(b.String())
}

// nodesHTML returns the nodes, each a group of its tooltip, its box and
// its text, that a click or Enter filters by.
func nodesHTML(g *Graph, d *drawing) template.HTML {
	var b strings.Builder
	for i := range d.Nodes {
		n := &d.Nodes[i]
		k := n.Kind.String()
		title := kindTitle(n.Node)
		b.WriteString("\n<g class=\"node " + k + "\" id=\"" + n.DOMID + "\" tabindex=\"0\" role=\"button\" aria-label=\"" +
			esc(title+": press Enter to filter by it") + "\" data-kind=\"" + k + "\" data-name=\"" + esc(n.Name) +
			"\" data-match=\"" + esc(n.Match) + "\"")
		switch n.Kind {
		case QubeNode:
			fw := ""
			if f := g.Node(n.Via); f != nil {
				fw = f.Name
			}
			b.WriteString(" data-qube=\"" + esc(n.Name) + "\" data-firewall=\"" + esc(fw) + "\"")
		case DestNode:
			any := "false"
			if n.Dests.Any {
				any = "true"
			}
			b.WriteString(" data-any=\"" + any + "\" data-prefixes=\"" + joinPrefixes(n.Dests.Prefixes) +
				"\" data-except=\"" + joinPrefixes(n.Dests.Except) + "\"")
		}
		b.WriteString("><title>" + esc(title) + "</title><rect x=\"" + num(n.X) + "\" y=\"" + num(n.Y) + "\" width=\"" +
			num(n.W) + "\" height=\"" + num(n.H) + "\" rx=\"6\"/>")
		for _, t := range n.Text {
			b.WriteString("<text")
			if t.Small {
				b.WriteString(" class=\"small\"")
			}
			b.WriteString(" x=\"" + num(t.X) + "\" y=\"" + num(t.Y) + "\">" + esc(t.Text) + "</text>")
		}
		b.WriteString("</g>")
	}
	return template.HTML(b.String())
}

// rowsHTML returns the rows of the table of the edges.
func rowsHTML(d *drawing) template.HTML {
	var b strings.Builder
	for i := range d.Edges {
		e := &d.Edges[i]
		v := e.Verdict.String()
		svc := e.Services
		if e.Except != "" {
			svc += ", except " + e.Except
		}
		b.WriteString("\n<tr data-edge=\"" + e.DOMID + "\"><td>" + esc(e.Qube) + "</td><td>" + esc(e.Firewall) +
			"</td><td class=\"verdict-" + v + "\">" + v + "</td><td>" + esc(svc) + "</td><td><code>" + esc(e.Dests) +
			"</code></td><td>" + esc(e.Why) + "</td></tr>")
	}
	return template.HTML(b.String())
}
