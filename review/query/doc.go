// Package query answers the questions qfw asks of a compiled policy about
// the traffic of its qubes, and renders the answers as text and JSON, the
// bytes that qfw explain, qfw who-can-reach and qfw show print:
//
//   - [ExplainPackets] and [Explain]: what happens to the packets from a
//     qube to a destination, per stretch of packets or per part, with the
//     rule that decides each;
//   - [WhoCanReach]: how much of a destination every qube can reach;
//   - [Show]: everything a qube can reach.
//
// A destination is written DEST[:PORT][/PROTO] and read by [ParseDest].
// Every answer judges a qube's rules as the firewall qube that enforces
// them reads them (the stock agent, qfw's nftables backend or the
// unikernel's release), from the lists of a [Policy].
package query
