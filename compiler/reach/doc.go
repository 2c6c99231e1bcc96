// Package reach computes what a qube can reach: the exact set of packets
// that its firewall qube accepts from it, as a partition of the whole
// packet space into boxes (see [space.Box]), each with the verdict and the
// rule that decides it. Two such sets give the difference that a policy
// change makes, summarised for people as destinations merged into the
// fewest prefixes and names, protocols, port ranges and ICMP types. A
// question about some packets (a [Query]: addresses, protocols, a port)
// cuts a set to the fate of those packets alone ([Set.Fates]), told the
// same way ([SummariseFates]).
//
// The sets are the firewall qube's reading of the lists, as the reference
// evaluator in compiler/eval models it: they hold exactly the packets it
// accepts. Host names that the resolver knows are their addresses; a name
// it does not know is a destination of its own, met by rules to that name
// and by rules to every destination only, as the evaluator decides a
// packet to it when the uncertain matches are set aside.
package reach
