// Package systemd holds the systemd drop-in with which qfw agent takes over
// a Linux firewall qube's qubes-firewall service, and the tests that check
// it with systemd-analyze verify on top of the stock unit. It has no code:
// the unit files are what it ships (see README.md).
package systemd
