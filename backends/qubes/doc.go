// Package qubes speaks the rule grammar of the Qubes OS firewall: it formats
// and parses the rule lines of the Admin API, derives the QubesDB entries
// that dom0 writes for a firewall qube, and checks the limits of both.
package qubes
