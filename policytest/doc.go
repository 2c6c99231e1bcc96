// Package policytest checks packets against what the firewall qubes really
// enforce: a policy's tests, and the single packets of qfw explain. Each
// packet from a qube is decided by the reference evaluator ([eval]) on the
// qube's rules as its netvm reads them, one list per address family, as the
// backend of that netvm lowers them.
//
// A test names a destination that may stand for many packets (a prefix,
// "any", every port); policytest tries one packet for each stretch of
// addresses, ports and ICMP types in which no rule changes its mind, so a
// test passes only if every packet it stands for meets its expectation.
package policytest
