// Package graph draws who can reach what: each qube, the firewall qube that
// enforces its rules, and the destinations its packets reach or are denied,
// the edges labelled with the services and coloured by the verdict.
//
// The edges are the lines of a [reach] summary, computed exactly over the
// whole packet space for the [Clients] of a compiled policy ([Policy]
// draws a policy whole, or the qubes named), so the picture says what qfw
// show says, for every qube at once; or, built with [FromQubes], the lines
// of a change, what qfw diff says each qube gains and loses. A [Graph] is
// written as Graphviz DOT or as one HTML page that holds its own drawing,
// styles and script: it fetches nothing, and its content security policy
// forbids it to, so it works from a file. Both are byte for byte the same
// for the same graph.
package graph
