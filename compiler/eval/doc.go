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
package eval
