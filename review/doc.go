// Package review holds what qfw's review commands (show, explain,
// who-can-reach, diff, graph) share: where a qube's rules are enforced
// ([Place]), its lists as that firewall qube enforces them
// ([Enforcement]), and the JSON forms of the packets a reachability line
// names. Its packages read the policies to compare (review/source),
// answer questions about one policy's traffic and render the answers
// (review/query), compute what a change does (review/diff) and draw who
// can reach what (review/graph).
package review
