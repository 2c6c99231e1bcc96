// Package decompile writes Qubes rule lists back as qfw policy source, the
// way an existing Qubes user adopts qfw (qfw import).
//
// Each line of a list becomes one policy rule, and the rules' priorities
// (10, 20, 30, … or 1, 2, 3, … for lists of over 999 rules) keep them in
// the list's order, so that the policy compiles back to exactly the list
// it came from: destinations, protocols, ports, ICMP types, expiry and
// comments. A line the policy language cannot say is reported, with the
// reason, rather than written as something that would compile to another
// rule. An empty list, which blocks everything, becomes a qube without
// rules, which blocks everything too. The file may also say which backend
// each firewall qube runs, as the compilation it is checked by assumed.
package decompile
