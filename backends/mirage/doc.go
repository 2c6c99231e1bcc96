// Package mirage targets the MirageOS unikernel firewall for Qubes OS
// (qubes-mirage-firewall): it predicts how each release reads and enforces
// a client's rule list, refuses what a release would mis-enforce, verifies
// and installs the unikernel's kernel image, and plans the firewall qube's
// properties and features.
//
// The unikernel reads the same QubesDB entries that dom0 writes for a Linux
// firewall qube, so qfw still sets rules with admin.vm.firewall.Set; this
// package says what the unikernel makes of them. It differs from the Linux
// agent in ways that matter for a policy compiler that never widens:
//
//   - It reads /qubes-firewall/<client IPv4>/0000, 0001, … and stops at the
//     first missing index. dom0 numbers the keys by position in the whole
//     list and leaves out IPv6 rules and expired rules, so such a rule
//     before an IPv4 rule hides every later rule. [Lower] reports those
//     gaps, and [Reorder] moves IPv6 rules to the end, splitting a rule
//     by family where moving it whole would change what the list means
//     in IPv6.
//   - Its parser takes the options in dom0's order only, and a host name
//     only if Domain_name.host accepts it; one rule it cannot parse turns
//     the client's whole list into drop-all. [FormatRule] writes this
//     dialect, and [Lower] reports a host name the parser would refuse.
//   - specialtarget=dns counts only in a rule without a protocol: with one,
//     the rule matches that protocol to every destination.
//   - A host name is looked up for each new connection, A records only,
//     at the first DNS server; a failed lookup skips the rule. A drop by
//     name thus stops protecting whenever the lookup fails, so [Lower]
//     refuses one that a later accept could undo.
//   - It has no IPv6, drops silently, and forwards traffic between its own
//     clients when the source's list accepts it.
//
// A [Release] holds what differs between versions (dsthost rules are
// broken in 0.8.2 and 0.9.0; the resolver and the DNS servers moved into
// QubesDB during 0.8) and the published SHA-256 of its kernel image.
// [Lower] turns one client's list into the entries the unikernel reads, a
// report per rule saying how the release enforces it, and positioned
// errors and warnings. [InstallKernel] writes an image into dom0's
// vm-kernels directory only if its hash matches, and [Plan] diffs the
// firewall qube's properties and features against the state it needs.
package mirage
