package graph

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"strings"
)

var (
	//go:embed page.html
	pageHTML string
	//go:embed page.css
	pageCSS string
	//go:embed page.js
	pageJS string
)

var page = template.Must(template.New("page").Funcs(template.FuncMap{"num": num}).Parse(pageHTML))

// csp is the page's content security policy: it may run its own script
// and styles, by their hashes, and load nothing at all, so that opening it
// sends nothing anywhere, whatever its text holds.
var csp = fmt.Sprintf("default-src 'none'; style-src '%s'; script-src '%s'; base-uri 'none'; form-action 'none'",
	hash(pageCSS), hash(pageJS))

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// WriteHTML writes g as one HTML page that holds everything it shows: the
// drawing as SVG, a table of the edges, the filters and the legend.
func (g *Graph) WriteHTML(w io.Writer) error {
	d := draw(g)
	type verdict struct{ Name, Text, Colour string }
	vs := []verdict{
		{Accept.String(), "accepted", colours[Accept].colour},
		{Deny.String(), "denied by a rule or the firewall qube", colours[Deny].colour},
		{Refuse.String(), "list refused", colours[Refuse].colour},
	}
	var qubes []string
	seen := map[string]bool{}
	for _, n := range g.Nodes {
		if n.Kind != Dest && !seen[n.Name] {
			seen[n.Name] = true
			qubes = append(qubes, n.Name)
		}
	}
	nq, nf := 0, 0
	for _, n := range g.Nodes {
		switch n.Kind {
		case Qube:
			nq++
		case Firewall:
			nf++
		}
	}
	summary := fmt.Sprintf("%s behind %s, %s.", count(nq, "qube"), count(nf, "firewall qube"), count(len(g.Edges), "edge"))
	note := ""
	if len(g.Unpinned) > 0 {
		note = "The resolve section pins no addresses for " + strings.Join(g.Unpinned, ", ") + ": shown as names, not as the addresses they resolve to."
	}
	nodes := make([]pageNode, len(d.Nodes))
	for i := range d.Nodes {
		nodes[i] = pageNode{drawnNode: &d.Nodes[i], g: g}
	}
	return page.Execute(w, struct {
		Title, Summary, Note string
		CSP                  string
		CSS                  template.CSS
		JS                   template.JS
		QubeNames            []string
		Verdicts             []verdict
		D                    *drawing
		Nodes                []pageNode
	}{g.Title, summary, note, csp, template.CSS(pageCSS), template.JS(pageJS), qubes, vs, d, nodes})
}

// pageNode is a node as the page's template reads it.
type pageNode struct {
	*drawnNode
	g *Graph
}

func (n pageNode) IsQube() bool { return n.Kind == Qube }
func (n pageNode) IsDest() bool { return n.Kind == Dest }

// FirewallName is the name of a qube's firewall qube.
func (n pageNode) FirewallName() string {
	if f := n.g.Node(n.Via); f != nil {
		return f.Name
	}
	return ""
}

// Prefixes and Except are a destination node's prefixes, for the
// destination filter's address search.
func (n pageNode) Prefixes() string { return joinPrefixes(n.Dests.Prefixes) }
func (n pageNode) Except() string   { return joinPrefixes(n.Dests.Except) }

// Aria is the node's accessible name.
func (n pageNode) Aria() string {
	return kindTitle(n.Node) + ": press Enter to filter by it"
}

// Tip is the node's tooltip.
func (n pageNode) Tip() string { return kindTitle(n.Node) }

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
