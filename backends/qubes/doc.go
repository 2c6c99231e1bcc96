// Package qubes speaks the rule grammar of the Qubes OS firewall: it formats
// and parses the rule lines of the Admin API, derives the QubesDB entries
// that dom0 writes for a firewall qube, and checks the limits of both.
//
// It reads lines with two grammars. [ParseRule] is qfw's: it takes only
// what every firewall agent enforces as written, and is what compiled and
// saved lists must pass. [ParseDom0Rule] is dom0's own, wider one: it is
// for lines read back from dom0 or from files standing for what dom0
// holds, which are in force whether or not qfw would write them.
package qubes
