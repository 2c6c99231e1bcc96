package graph

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// The drawing's measures, in pixels. Text is monospace, so that its width
// is known without a browser: 12px text is about 7.2px a character.
const (
	margin     = 16
	nameChar   = 7.2
	smallChar  = 6.0
	labelChar  = 6.6
	nodePad    = 10
	nodeGap    = 12
	groupGap   = 28
	portGap    = 16
	slotGap    = 6
	minNodeH   = 40
	lineH      = 15
	curve      = 70
	maxLabel   = 40
	maxLine    = 44
	maxLines   = 6
	labelSpace = 20
)

// drawing is where the nodes and edges of a graph go.
type drawing struct {
	Width, Height int
	Nodes         []drawnNode
	Edges         []drawnEdge
	// Links join each qube to its firewall qube.
	Links []drawnLink
}

type drawnNode struct {
	*Node
	DOMID      string
	X, Y, W, H float64
	Text       []textLine
	// Match is what the page's filters match the node against.
	Match string
}

type textLine struct {
	X, Y  float64
	Text  string
	Small bool
}

type drawnEdge struct {
	*Edge
	DOMID          string
	Path           string
	LabelX, LabelY float64
	Label          string
	// FromDOM, ViaDOM and Dest are the DOM IDs of the edge's nodes, and
	// Qube and Firewall the names of its qube and firewall qube, for the
	// filters.
	FromDOM, ViaDOM, Dest string
	Qube, Firewall        string
	// Dests names the destinations; Title says all of the edge.
	Dests, Title string
}

type drawnLink struct {
	Path            string
	FromDOM, ViaDOM string
	Qube, Firewall  string
}

type point struct{ x, y float64 }

// draw lays g out in three columns: qubes, firewall qubes, destinations.
// Qubes are grouped by firewall qube; a firewall qube sits beside its
// clients and destinations beside the qubes that reach them, so that few
// edges cross. Each edge has a port of its own on each node, and ends in
// a straight run that holds its label, which no other label overlaps.
func draw(g *Graph) *drawing {
	d := &drawing{}
	byID := map[string]int{}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		byID[n.ID] = i
		d.Nodes = append(d.Nodes, drawnNode{Node: n, DOMID: fmt.Sprintf("n%d", i), Match: n.Name})
	}
	edgesOf := map[string][]int{}
	for i := range g.Edges {
		e := &g.Edges[i]
		edgesOf[e.From] = append(edgesOf[e.From], i)
		edgesOf[e.Via] = append(edgesOf[e.Via], i)
		edgesOf[e.To] = append(edgesOf[e.To], i)
	}
	var qubes, firewalls, dests []int
	for i, n := range g.Nodes {
		switch n.Kind {
		case QubeNode:
			qubes = append(qubes, i)
		case FirewallNode:
			firewalls = append(firewalls, i)
		default:
			dests = append(dests, i)
		}
	}
	// Columns are as wide as their longest text.
	width := func(ids []int, f func(*drawnNode) float64) float64 {
		w := 100.0
		for _, i := range ids {
			w = max(w, f(&d.Nodes[i]))
		}
		return w
	}
	nameW := func(n *drawnNode) float64 {
		return max(chars(n.Name)*nameChar, chars(n.Detail)*smallChar) + 2*nodePad
	}
	qubeW, fwW := width(qubes, nameW), width(firewalls, nameW)
	destW := width(dests, func(n *drawnNode) float64 {
		w := 0.0
		for _, l := range destText(n.Node) {
			w = max(w, chars(l)*nameChar)
		}
		return w + 2*nodePad
	})
	labelW := 0.0
	for i := range g.Edges {
		labelW = max(labelW, chars(edgeLabel(&g.Edges[i]))*labelChar)
	}
	qubeX := float64(margin)
	fwX := qubeX + qubeW + 2*curve
	destX := fwX + fwW + 2*curve + labelW + labelSpace

	// Qubes, grouped by firewall qube, those without one last.
	slices.SortStableFunc(qubes, func(a, b int) int {
		va, vb := g.Nodes[a].Via, g.Nodes[b].Via
		return cmp.Or(cmp.Compare(b2i(va == ""), b2i(vb == "")), cmp.Compare(va, vb))
	})
	ports := make([][3]point, len(g.Edges)) // at the qube, into and out of the firewall qube's middle
	y := float64(margin)
	for k, i := range qubes {
		n := &d.Nodes[i]
		if k > 0 && g.Nodes[qubes[k-1]].Via != n.Via {
			y += groupGap - nodeGap
		}
		es := edgesOf[n.ID]
		n.X, n.Y, n.W, n.H = qubeX, y, qubeW, max(minNodeH, float64(len(es)+1)*portGap)
		for p, e := range es {
			ports[e][0] = point{n.X + n.W, n.Y + n.H*float64(p+1)/float64(len(es)+1)}
		}
		y = n.Y + n.H + nodeGap
	}
	// Firewall qubes beside their clients' edges, in that order.
	place(d, firewalls, fwX, fwW, func(i int) ([]int, float64) {
		es := slices.Clone(edgesOf[g.Nodes[i].ID])
		slices.SortStableFunc(es, func(a, b int) int { return cmp.Compare(ports[a][0].y, ports[b][0].y) })
		h := max(minNodeH, float64(len(es)+1)*slotGap+2*nodePad)
		return es, h
	}, func(e int) float64 { return ports[e][0].y }, func(n *drawnNode, es []int) {
		for p, e := range es {
			y := n.Y + nodePad + float64(p+1)*(n.H-2*nodePad)/float64(len(es)+1)
			ports[e][1], ports[e][2] = point{n.X, y}, point{n.X + n.W, y}
		}
	})
	// Destinations beside the edges that reach them, each edge ending at
	// a port of its own, in the order the edges come in.
	ends := make([]point, len(g.Edges))
	place(d, dests, destX, destW, func(i int) ([]int, float64) {
		es := slices.Clone(edgesOf[g.Nodes[i].ID])
		slices.SortStableFunc(es, func(a, b int) int { return cmp.Compare(ports[a][2].y, ports[b][2].y) })
		h := max(minNodeH, float64(len(es)+1)*portGap, float64(len(destText(&g.Nodes[i])))*lineH+2*nodePad)
		return es, h
	}, func(e int) float64 { return ports[e][2].y }, func(n *drawnNode, es []int) {
		for p, e := range es {
			ends[e] = point{n.X, n.Y + n.H*float64(p+1)/float64(len(es)+1)}
		}
	})
	for i := range d.Nodes {
		n := &d.Nodes[i]
		n.Text = nodeText(n)
		d.Width = max(d.Width, int(n.X+n.W)+margin)
		d.Height = max(d.Height, int(n.Y+n.H)+margin)
		if n.Kind == DestNode {
			n.Match = strings.ToLower(strings.Join(n.Lines, "\n"))
		}
	}
	for i := range g.Edges {
		e := &g.Edges[i]
		q, fw, to := ports[i][0], ports[i][1], ports[i][2]
		end := ends[i]
		run := end.x - labelW - labelSpace/2
		path := fmt.Sprintf("M%s C%s %s %s H%s C%s %s %s H%s",
			pt(q), pt(point{q.x + curve, q.y}), pt(point{fw.x - curve, fw.y}), pt(fw),
			num(to.x), pt(point{to.x + curve, to.y}), pt(point{run - curve, end.y}), pt(point{run, end.y}), num(end.x-2))
		d.Edges = append(d.Edges, drawnEdge{Edge: e, DOMID: fmt.Sprintf("e%d", i), Path: path,
			LabelX: end.x - labelSpace/2, LabelY: end.y - 4, Label: edgeLabel(e),
			FromDOM: d.Nodes[byID[e.From]].DOMID, ViaDOM: d.Nodes[byID[e.Via]].DOMID, Dest: d.Nodes[byID[e.To]].DOMID,
			Qube: g.Nodes[byID[e.From]].Name, Firewall: g.Nodes[byID[e.Via]].Name,
			Dests: g.Nodes[byID[e.To]].Name, Title: edgeTitle(g, e)})
	}
	for _, i := range qubes {
		n := &d.Nodes[i]
		if n.Via == "" {
			continue
		}
		f := &d.Nodes[byID[n.Via]]
		a, b := point{n.X + n.W, n.Y + n.H/2}, point{f.X, f.Y + f.H/2}
		d.Links = append(d.Links, drawnLink{
			Path:    fmt.Sprintf("M%s C%s %s %s", pt(a), pt(point{a.x + curve, a.y}), pt(point{b.x - curve, b.y}), pt(b)),
			FromDOM: n.DOMID, ViaDOM: f.DOMID, Qube: n.Name, Firewall: f.Name,
		})
	}
	return d
}

// place lays out the nodes ids of a column at x, each as near as it can
// be to the middle of the ports that lead to it, in that order, without
// overlapping: edges gives a node's edges, in the order of their ports,
// and its height; from gives the height an edge comes from; ports places
// the edges' ports on the placed node.
func place(d *drawing, ids []int, x, w float64, edges func(int) ([]int, float64), from func(int) float64, ports func(*drawnNode, []int)) {
	type want struct {
		i  int
		es []int
		h  float64
		at float64
	}
	ws := make([]want, len(ids))
	for k, i := range ids {
		es, h := edges(i)
		at := 0.0
		for _, e := range es {
			at += from(e)
		}
		if len(es) > 0 {
			at /= float64(len(es))
		}
		ws[k] = want{i, es, h, at}
	}
	// Nodes without edges (a firewall qube whose clients reach nothing)
	// go last; the rest by where their edges come from, ties by order.
	slices.SortStableFunc(ws, func(a, b want) int {
		return cmp.Or(cmp.Compare(b2i(len(a.es) == 0), b2i(len(b.es) == 0)), cmp.Compare(a.at, b.at))
	})
	y := float64(margin)
	for _, wn := range ws {
		n := &d.Nodes[wn.i]
		n.X, n.W, n.H = x, w, wn.h
		n.Y = max(y, wn.at-wn.h/2)
		ports(n, wn.es)
		y = n.Y + n.H + nodeGap
	}
}

// destText returns the lines a destination node shows: each destination
// wrapped after its commas to at most maxLine characters, at most maxLines
// lines in all. The node's tooltip and the table hold them all.
func destText(n *Node) []string {
	if n.Kind != DestNode {
		return nil
	}
	var out []string
	for _, d := range n.Lines {
		out = append(out, wrap(d, maxLine)...)
	}
	if len(out) > maxLines {
		out = append(out[:maxLines-1], "… more in the tooltip")
	}
	return out
}

// wrap cuts s after its commas into lines of at most n characters, those
// after the first indented; a part longer than a line is clipped.
func wrap(s string, n int) []string {
	var out []string
	line := ""
	for _, part := range strings.SplitAfter(s, ", ") {
		part = strings.TrimSuffix(part, " ")
		switch {
		case line == "":
			line = part
		case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(part) <= n:
			line += " " + part
		default:
			out = append(out, clip(line, n))
			line = "  " + part
		}
	}
	return append(out, clip(line, n))
}

// nodeText returns the text of n, placed.
func nodeText(n *drawnNode) []textLine {
	x := n.X + nodePad
	if n.Kind != DestNode {
		mid := n.Y + n.H/2
		return []textLine{{X: x, Y: mid - 2, Text: n.Name}, {X: x, Y: mid + 12, Text: n.Detail, Small: true}}
	}
	lines := destText(n.Node)
	top := n.Y + (n.H-float64(len(lines))*lineH)/2 + lineH - 3
	out := make([]textLine, len(lines))
	for i, l := range lines {
		// SVG folds leading spaces: an indent is a shift.
		t := strings.TrimLeft(l, " ")
		out[i] = textLine{X: x + chars(l[:len(l)-len(t)])*nameChar, Y: top + float64(i)*lineH, Text: t}
	}
	return out
}

// edgeLabel returns the label an edge shows: its services, at most
// maxLabel characters.
func edgeLabel(e *Edge) string {
	s := e.Services
	if e.Except != "" {
		s += ", with exceptions"
	}
	return clip(s, maxLabel)
}

// clip returns s cut to n characters, the last an ellipsis if cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func num(f float64) string { return strings.TrimSuffix(fmt.Sprintf("%.1f", f), ".0") }

func pt(p point) string { return num(p.x) + "," + num(p.y) }

func chars(s string) float64 { return float64(utf8.RuneCountInString(s)) }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
