// Package review holds what qfw's review commands (show, diff, graph)
// share: where a qube's rules are enforced ([Place]), its lists as that
// firewall qube enforces them ([Enforcement]), and the JSON forms of the
// packets a reachability line names. Its packages read the policies to
// compare (review/source), compute what a change does (review/diff) and
// draw who can reach what (review/graph), and write what they find as
// text, markdown, JSON, HTML or DOT to any writer: the command line only
// chooses the format.
package review
