package graph

import (
	"bufio"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/qfw-dev/qfw/internal/words"
)

var (
	//go:embed page.html
	pageHTML string
	//go:embed page.css
	pageCSS string
	//go:embed page.js
	pageJS string
)

var page = template.Must(template.New("page").Parse(pageHTML))

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
	explain := "Each edge is packets of a qube that its firewall qube accepts or denies, with the rule that decides them; packets no rule matches are dropped and not drawn."
	if g.Change {
		vs = []verdict{
			{Gained.String(), "now reachable (widened)", colours[Gained].colour},
			{Lost.String(), "no longer reachable", colours[Lost].colour},
		}
		explain = "Each edge is packets of a qube that the change makes reachable or unreachable, with what decides them on each side; what does not change is not drawn."
	}
	var qubes []string
	seen := map[string]bool{}
	for _, n := range g.Nodes {
		if n.Kind != DestNode && !seen[n.Name] {
			seen[n.Name] = true
			qubes = append(qubes, n.Name)
		}
	}
	nq, nf := 0, 0
	for _, n := range g.Nodes {
		switch n.Kind {
		case QubeNode:
			nq++
		case FirewallNode:
			nf++
		}
	}
	summary := fmt.Sprintf("%s behind %s, %s.", words.Count(nq, "qube"), words.Count(nf, "firewall qube"), words.Count(len(g.Edges), "edge"))
	if g.Change && len(g.Nodes) == 0 {
		summary = "No change in reachability, and no qube added, removed or moved."
	}
	note := ""
	if len(g.Unpinned) > 0 {
		note = "The resolve section pins no addresses for " + strings.Join(g.Unpinned, ", ") + ": shown as names, not as the addresses they resolve to."
	}
	// The template writes in small pieces.
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := page.Execute(bw, struct {
		Title, Summary, Note string
		Explain              string
		CSP                  string
		CSS                  template.CSS
		JS                   template.JS
		QubeNames            []string
		Verdicts             []verdict
		D                    *drawing
		Links, Edges, Nodes  template.HTML
		Rows                 template.HTML
	}{g.Title, summary, note, explain, csp, template.CSS(pageCSS), template.JS(pageJS), qubes, vs, d,
		linksHTML(d), edgesHTML(d), nodesHTML(g, d), rowsHTML(d)}); err != nil {
		return err
	}
	return bw.Flush()
}
