// Package nftables lowers the rule lists of a firewall qube's clients into
// one nftables table of qfw's own, renders it as nft text, and applies it
// to the kernel in one netlink transaction.
//
// The table keeps the Qubes semantics: a forward chain that accepts
// established connections and traffic not from a client interface (vif*),
// and dispatches the rest by source address to the client's chain through
// a verdict map; anti-spoofing for the addresses of connected qubes, as
// the Linux agent has; in the client's chain, the first rule that matches
// decides, and a drop is a reject with ICMP admin-prohibited. What makes it
// fast is how the rules are laid out: consecutive rules with the same
// verdict are one step, whatever their number, because first match among
// rules of one verdict is their union; each step looks its destinations,
// protocols and ports up in interval sets. A client's chain thus holds a
// few rules per change of verdict, not one per Qubes rule.
//
// Applying never opens a window, not even for a moment within the kernel's
// commit. An apply keeps qfw's table and its base chains (forward,
// prerouting, postrouting) hooked in all along, and replaces only what
// they hold; deleting and adding them again would unhook them. A guard
// chain drops clients' new packets until the last set of a commit is in
// force (see baseChains). Changes to one network namespace are serialised
// by a lock under /run/qfw, and every one is read back: what the kernel
// holds is what was applied, the previous table (a refused transaction),
// or, if neither, a lockdown table, reported as an error.
//
// Connections that lose their permission end: Purge judges every tracked
// connection from each end that is a client, a connection from outside as
// the client's packets in it, and the forward chain keeps a purged one from
// coming back: it drops a TCP segment without SYN from outside that
// conntrack would take up as a new connection, and lets a client's packets
// of a UDP (or any non-TCP) flow that started outside through only where
// the client's list allows them.
//
// Where the Linux qubes-firewall agent has known bugs, the lowering does
// what the rule says instead, and the reference evaluator (compiler/eval,
// with Semantics Nftables) models the same:
//
//   - a DNS rule whose port range includes 53 matches port 53 (the agent
//     leaves out any DNS rule whose range is not exactly 53), one whose
//     range does not include 53 matches nothing;
//   - a DNS rule with proto=icmp matches nothing (the agent emits invalid
//     nft for it and blocks the client);
//   - an ICMP type in a rule that applies to both families is an ICMP
//     (IPv4) type, matched in IPv6 as its ICMPv6 counterpart where there is
//     one (echo, echo reply, unreachable, time exceeded, parameter problem)
//     and not at all where there is none (the agent compares the number
//     with ICMPv6 types); in a rule to an IPv6 prefix it is an ICMPv6 type.
//     In a rule to a host name it is the number in each family, as the
//     agent reads it: dom0 puts such a rule in both families' lists, and
//     qfw's policy says it as the type listed in both icmp and icmpv6, so
//     the rule means what it says.
//
// qfw's compiler writes neither kind of DNS rule; a list from another tool
// may.
//
// Host names are resolved when the table is built, by the resolver the
// caller gives (qfw agent's keeps each answer for its time to live, and
// the last good one). Unlike the agent, which blocks a client's whole list
// of a family when one name does not resolve in it, the lowering never
// widens and blocks no more than it must:
//
//   - an accept rule to a name with no address in the family matches
//     nothing, and the client's other rules stand (reported as Skipped);
//   - a drop rule to a name with no address now takes the addresses the
//     name last resolved to, so that a failed lookup does not lift a deny;
//     a name that never had one makes the client's chain of that family
//     reject everything: fail closed.
//
// When only a name's addresses change, the table differs from the one in
// force in set elements and chains' digests alone, and UpdateElements
// changes just those in one transaction. UpdateClient replaces one
// client's part: the sets of its that the kernel holds with the same name
// and type change element by element (a port or ICMP set loses at most
// two, or is made anew), so that a commit that moves one rule of a long
// list sends a few elements; it reads back every chain, and the elements
// of what it changed.
package nftables
