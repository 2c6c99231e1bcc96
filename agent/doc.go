// Package agent is qfw's firewall qube service, run by qfw agent in place
// of the Linux qubes-firewall agent: it reads the rule lists that dom0
// writes into the firewall qube's QubesDB and enforces them with qfw's
// nftables table, whatever wrote them.
//
// The agent watches /connected-ips, /connected-ips6, and the commit key
// /qubes-firewall/<ip> of each connected address, each client and each
// client that left; not /qubes-firewall/, whose every key would be an
// event, thousands of them ahead of a long list's commit. An address is
// watched before its list is read, so that no commit goes unseen: a list
// dom0 writes before /connected-ips names its client is read when it
// does. At start, on a reload (SIGHUP) and after QubesDB's connection was
// lost, it reads every client's list and applies the whole table in one
// transaction; on each empty write to /qubes-firewall/<ip>, the signal
// with which dom0 ends a list, it reads that client's list again and
// replaces the client's part of the table in one transaction (only its
// sets' elements, when that is all a list changes after the client's last
// update; the whole table, in one, when several clients' commits are
// handled together).
// Commits that arrive while it works are handled together, each client's
// list read once, as it is then: a burst converges on the last list, and a
// list read while dom0 was writing it is fixed when its commit arrives.
// Host names are looked up again when their answers are due; if only
// their addresses changed, only the sets' elements change.
//
// Everything fails closed. A list that does not parse (see
// [qubes.ParseQubesDBList]) rejects all of its client's traffic of that
// family, reported with the client and the reason; the other clients are
// not affected. An apply the kernel refuses leaves the previous table in
// force, or the nftables backend's lockdown table, and is retried.
// Stopping the agent leaves the table as it is: the last lists stay in
// force, where the stock agent deletes its tables and opens forwarding.
// The addresses in /connected-ips(6) fill the table's anti-spoofing sets;
// a client whose address leaves them loses its chains, and its traffic
// falls to the forward chain's policy drop, until it comes back.
//
// Each client address is a client of its own to the nftables backend,
// named after the address: dom0 writes a qube's IPv4 and IPv6 lists
// under its two addresses, and nothing in QubesDB ties them together.
//
// After each handling the agent writes back what the stock agent does:
// /qubes-firewall-handled/<ip>, a counter that dom0's tools wait on, and
// /dns/<ip>/<host>, the addresses each host name resolved to. It keeps a
// status file for qfw agent status.
//
// [Service] is the agent as qfw agent runs it in a firewall qube: it opens
// QubesDB, the resolver and the network namespace the flags name, runs the
// user's hooks, tells systemd how it goes, and reloads on SIGHUP;
// [ReadStatus] and [Status.WriteText] are qfw agent status.
package agent
