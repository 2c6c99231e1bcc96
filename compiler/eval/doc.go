// Package eval is the reference packet evaluator: it decides what a firewall
// qube does with the first packet of a connection from a client, given the
// client's rule lists as the firewall qube reads them, one per address
// family.
//
// It models the semantics of the enforcing software, not of the policy:
// the Linux qubes-firewall agent reads the first matching rule, drops (as
// an ICMP admin-prohibited reject) what no rule accepts, matches the DNS
// special target only on port 53 to the qube's DNS servers, compares ICMP
// types numerically in both families, matches a rule's protocol in IPv6
// only before any extension headers, and resolves host names once per
// family when it loads the list, blocking the whole family when a name has
// no address in it. qfw's nftables backend (Semantics Nftables) blocks the
// family only for a drop rule's name that has no address now and had none
// before; an accept rule to such a name matches nothing, and the rest of
// the list stands (see HostAddrs).
//
// Host names resolve through a [Resolver] the caller supplies. Where the
// answer depends on an address that is not known (a name's, or the
// upstream DNS servers' in a firewall qube without a netvm), the result
// says so: a rule that may match first is reported as possible rather than
// certain, as Capirca's aclcheck tells exact from possible matches, and so
// is a name that may not resolve at all and block the list.
//
// Eval's semantics are those of a walk over the list, in order, to the
// first rule that matches. To decide a packet in a time that does not grow
// with the list, New also compiles each family's list, for each protocol,
// into a partition of destination addresses × ports (or ICMP types) whose
// cells hold what the walk gives the packets in them, and Eval looks a
// packet up with binary searches. The index gives the walk's Result, every
// field, for every packet it decides (a property test compares the two on
// random lists and packets). It decides packets to a known address: Eval
// walks the list for a packet to an unknown address or to a host name, to
// a zoned address, a DNS query that reaches the rules with an unknown
// upstream address, lists too short to gain from an index, and protocols
// whose partition would be too large to build (see index.go).
// Options.Linear turns the index off.
package eval
