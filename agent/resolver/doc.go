// Package resolver resolves the host names of dsthost rules as a Linux
// firewall qube should: with the name servers of its own resolv.conf (read
// as glibc reads it), asking A records for IPv4 and AAAA for IPv6 over UDP,
// again over TCP when an answer comes truncated, following CNAMEs, trying
// each server in turn with a timeout; and keeping each answer for its time
// to live, clamped to a minimum and a maximum, so that a table is built
// from what is kept without waiting on the network, and names are looked
// up again before their answers expire.
//
// It never widens what a rule allows, nor lifts a deny. For every name and
// family it keeps two answers (see Resolver): the addresses now, which an
// allow rule matches, and which a name that stops resolving loses once
// they expire; and the last good addresses, which a deny rule keeps
// matching through failures (eval.HostAddrs chooses). The stock agent
// resolves a name once when it loads a list, and blocks the whole list of
// a family when the name does not resolve in it.
package resolver
