package graph

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/par"
	"github.com/qfw-dev/qfw/compiler/reach"
	"github.com/qfw-dev/qfw/review"
)

// Verdict is what becomes of the packets of an edge.
type Verdict uint8

const (
	// Accept is packets the firewall qube passes on.
	Accept Verdict = iota
	// Deny is packets a deny rule drops, or the firewall qube itself.
	Deny
	// Refuse is every packet of a family: the firewall qube refuses the
	// whole list, as a rule names a host with no address in it.
	Refuse
	// Gained is packets that a change makes reachable.
	Gained
	// Lost is packets that a change makes unreachable.
	Lost
	numVerdicts
)

var verdictNames = [numVerdicts]string{"accept", "deny", "refuse", "gained", "lost"}

func (v Verdict) String() string { return verdictNames[v] }

// Kind is what a node stands for.
type Kind uint8

const (
	// QubeNode is a client qube, whose rules a firewall qube enforces.
	QubeNode Kind = iota
	// FirewallNode is a firewall qube.
	FirewallNode
	// DestNode is destinations, as a summary line names them.
	DestNode
)

var kindNames = [...]string{"qube", "firewall", "dest"}

func (k Kind) String() string { return kindNames[k] }

// Node is a qube, a firewall qube or a set of destinations.
type Node struct {
	// ID is unique in the graph: the kind and the name.
	ID   string
	Kind Kind
	// Name is the qube's name; for destinations, Lines joined.
	Name string
	// Detail says more: the backend of a firewall qube, the firewall qube
	// of a client or that it has none.
	Detail string
	// Via is the ID of the firewall qube of a client; empty if it has no
	// netvm.
	Via string
	// Lines are the destinations, each as people write it: "10.0.0.0/8",
	// "0.0.0.0/0 (except 192.168.0.0/16)", "github.com".
	Lines []string
	// Dests are the destinations, for a Dest node.
	Dests reach.Dests
}

// Edge is the packets of one summary line: a qube's, through its firewall
// qube, to a set of destinations, all decided by one rule.
type Edge struct {
	// From, Via and To are the IDs of the qube, its firewall qube and the
	// destinations.
	From, Via, To string
	Verdict       Verdict
	// Services are the protocols and ports: "tcp 80, 443", "dns".
	Services string
	// Except are the packets of Services to To that the edge leaves out,
	// which another edge decides: "tcp 22 to 140.82.121.3".
	Except string
	// Why is what decides the packets: "by allow.web (profiles.cue:27:10)".
	Why string
}

// Graph is the qubes of a policy and what they reach.
type Graph struct {
	// Title names the policy.
	Title string
	// Nodes are the qubes, sorted by name, then the firewall qubes,
	// sorted by name, then the destinations, sorted by first edge.
	Nodes []Node
	// Edges are sorted by qube, then as the qube's summary sorts them:
	// accepted packets first.
	Edges []Edge
	// Unpinned are the host names whose addresses the policy does not
	// pin: they are destinations of their own.
	Unpinned []string
	// Change says the edges are a change to what the qubes reach, gained
	// or lost, rather than what they reach.
	Change bool

	// index holds each node's place in Nodes, by ID.
	index map[string]int
}

// Client is a qube as the graph shows it.
type Client struct {
	Name string
	// Firewall is the firewall qube that enforces the qube's rules; empty
	// if it has no netvm.
	Firewall string
	Backend  ir.Backend
	// Set is the fate of every packet the qube can send; nil if it has no
	// netvm.
	Set *reach.Set
}

// Clients returns qs as clients of their firewall qubes, each with the
// fate of every packet it can send, as its firewall qube enforces its
// rules at now. lowered holds, by qube name, the unikernel's reading of
// the lists of qubes behind a unikernel firewall at now, as the build
// lowered them; a list not in it is lowered here.
func Clients(prog *ir.Program, qs []*ir.Qube, lowered map[string]*mirage.Lowering, now int64) []Client {
	clients := make([]Client, len(qs))
	par.Each(len(qs), func(i int) {
		in, at := review.Enforcement(prog, qs[i], now, lowered[qs[i].Name])
		c := Client{Name: qs[i].Name, Firewall: at.Firewall, Backend: at.Backend}
		if at.Firewall != "" {
			c.Set = reach.Compute(reach.NewUniverse(reach.Names(in)), in)
		}
		clients[i] = c
	})
	return clients
}

// DescribeRule describes a rule of the policy for people, with where the
// policy says it.
type DescribeRule func(*ir.Rule) string

// New returns the graph of clients, which need not be sorted; describe
// says which rule decides an edge.
func New(title string, clients []Client, describe DescribeRule) *Graph {
	qubes := make([]Qube, len(clients))
	// The summaries are most of the work, and each qube's its own.
	par.Each(len(clients), func(i int) {
		c := clients[i]
		q := Qube{Name: c.Name, Firewall: c.Firewall, Backend: c.Backend}
		if c.Set != nil && c.Firewall != "" {
			for _, vl := range lines(c) {
				q.Lines = append(q.Lines, Line{Line: vl.line, Verdict: vl.verdict, Why: why(vl.reason, c, describe)})
			}
			q.Unpinned = c.Set.Universe.Names()
		}
		qubes[i] = q
	})
	return FromQubes(title, qubes, false)
}

// Qube is a qube with the edges it is drawn with, for [FromQubes].
type Qube struct {
	Name string
	// Firewall is the firewall qube that enforces the qube's rules; empty
	// if it has no netvm.
	Firewall string
	Backend  ir.Backend
	// Detail says what became of the qube in a change, such as "added"
	// or "moved from sys-vpn (qubes)"; empty for none.
	Detail string
	// Lines are the qube's edges, in order.
	Lines []Line
	// Unpinned are the host names of its lines whose addresses the policy
	// does not pin.
	Unpinned []string
}

// Line is a summary line as an edge: its verdict, and what decides it.
type Line struct {
	reach.Line
	Verdict Verdict
	Why     string
}

// FromQubes returns the graph of qubes, which need not be sorted. Change
// says the lines are a change to what the qubes reach, whose verdicts
// are Gained and Lost; else they are what the qubes reach.
func FromQubes(title string, qubes []Qube, change bool) *Graph {
	qubes = slices.Clone(qubes)
	slices.SortFunc(qubes, func(a, b Qube) int { return cmp.Compare(a.Name, b.Name) })
	g := &Graph{Title: title, Change: change}
	firewalls := map[string]ir.Backend{}
	dests := map[string]*Node{}
	var destOrder []string
	unpinned := map[string]bool{}
	for _, q := range qubes {
		qn := Node{ID: "qube:" + q.Name, Kind: QubeNode, Name: q.Name, Detail: "no netvm: reaches nothing"}
		if q.Firewall != "" {
			qn.Detail = fmt.Sprintf("behind %s (%s)", q.Firewall, q.Backend)
			qn.Via = "firewall:" + q.Firewall
			firewalls[q.Firewall] = q.Backend
		}
		if q.Detail != "" {
			qn.Detail = q.Detail + ", " + qn.Detail
		}
		g.Nodes = append(g.Nodes, qn)
		for _, n := range q.Unpinned {
			unpinned[n] = true
		}
		if q.Firewall == "" {
			continue
		}
		for i := range q.Lines {
			l := &q.Lines[i]
			text := strings.Join(l.Dests.Strings(), ", ")
			id := "dest:" + text
			if dests[id] == nil {
				dests[id] = &Node{ID: id, Kind: DestNode, Name: text, Lines: l.Dests.Strings(), Dests: l.Dests}
				destOrder = append(destOrder, id)
			}
			g.Edges = append(g.Edges, Edge{From: qn.ID, Via: qn.Via, To: id, Verdict: l.Verdict,
				Services: services(&l.Line), Except: except(&l.Line), Why: l.Why})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(firewalls)) {
		g.Nodes = append(g.Nodes, Node{ID: "firewall:" + name, Kind: FirewallNode, Name: name, Detail: firewalls[name].String()})
	}
	for _, id := range destOrder {
		g.Nodes = append(g.Nodes, *dests[id])
	}
	g.Unpinned = slices.Sorted(maps.Keys(unpinned))
	g.index = make(map[string]int, len(g.Nodes))
	for i := range g.Nodes {
		g.index[g.Nodes[i].ID] = i
	}
	return g
}

// verdictLine is a summary line with its verdict and what decides it.
type verdictLine struct {
	line    reach.Line
	verdict Verdict
	reason  reach.Reason
}

// lines returns what c's firewall qube accepts of its packets, then what
// it drops for a reason other than that no rule accepts it: a deny rule,
// a refused list or its own address. The packets no rule matches, and
// those of a family the qube has no address in, are not drawn: they are
// everything else.
func lines(c Client) []verdictLine {
	s := c.Set
	u := s.Universe
	var out []verdictLine
	for _, l := range reach.Summarise(u, nil, s, s.Accepted()) {
		out = append(out, verdictLine{l, Accept, l.Head})
	}
	var drops []reach.Change
	for _, r := range s.Regions {
		if r.Action != ir.Drop {
			continue
		}
		switch r.Cause.Kind {
		case reach.ByRule, reach.Blocked, reach.Self:
			// As a change from what is dropped to what no rule decides,
			// so that the summary's base reason is the drop's.
			drops = append(drops, reach.Change{Box: r.Box, Base: r.Cause, Head: reach.Cause{Kind: reach.FinalDrop, Index: -1}})
		}
	}
	for _, l := range reach.Summarise(u, s, nil, drops) {
		v := Deny
		if l.Base.Kind == reach.Blocked {
			v = Refuse
		}
		out = append(out, verdictLine{l, v, l.Base})
	}
	return out
}

// services returns the services of l as its text says them.
func services(l *reach.Line) string {
	if !l.DNS {
		return reach.Services(l.Services)
	}
	if len(l.Services) == 2 {
		return "dns"
	}
	return "dns over " + l.Services[0].ProtoName()
}

// except returns the packets l leaves out, as its text says them.
func except(l *reach.Line) string {
	var b strings.Builder
	for i, p := range l.Except {
		switch {
		case i == 0:
		case i == len(l.Except)-1:
			b.WriteString(" and ")
		default:
			b.WriteString("; ")
		}
		b.WriteString(reach.Services(p.Services) + " to " + strings.Join(p.Dests.Strings(), ", "))
	}
	return b.String()
}

// why says what decides the packets of a line, for reason r.
func why(r reach.Reason, c Client, describe DescribeRule) string {
	switch r.Kind {
	case reach.ByRule:
		return "by " + describe(r.Rule)
	case reach.Blocked:
		return fmt.Sprintf("%s names %s, which has no IPv%d address, so %s refuses the whole IPv%d list",
			describe(r.Rule), r.Rule.Dst.Host, r.Family, c.Firewall, r.Family)
	case reach.Self:
		return fmt.Sprintf("by %s itself, which decides the packets to its own address", c.Firewall)
	}
	return "by no rule"
}

// Node returns the node of id, or nil.
func (g *Graph) Node(id string) *Node {
	if i, ok := g.index[id]; ok {
		return &g.Nodes[i]
	}
	return nil
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}
