package qubes

import (
	"fmt"
	"net/netip"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// Op is what one QubesDB operation does.
type Op uint8

const (
	// Remove deletes Path, which ends in "/", and every key under it.
	Remove Op = iota + 1
	// Write sets the key Path to Value.
	Write
)

func (o Op) String() string {
	switch o {
	case Remove:
		return "rm"
	case Write:
		return "write"
	}
	return "invalid"
}

// Entry is one QubesDB operation that dom0 performs in the firewall qube's
// QubesDB.
type Entry struct {
	Op   Op
	Path string
	// Value is the value to write; empty for Remove.
	Value string
}

// String returns e as "rm PATH" or "write PATH VALUE", with VALUE quoted.
func (e Entry) String() string {
	if e.Op == Remove {
		return e.Op.String() + " " + e.Path
	}
	return fmt.Sprintf("%s %s %q", e.Op, e.Path, e.Value)
}

// Entries returns the operations, in order, with which dom0 publishes rules
// for the client address ip (reload_firewall_for_vm): remove the subtree
// /qubes-firewall/<ip>/, write its policy (always drop), write one
// /qubes-firewall/<ip>/NNNN per rule for ip's family, then write the empty
// signal /qubes-firewall/<ip>, which is what the agents act on.
//
// A rule is written unless its prefix is of the other family or it has
// expired (0 < Expire <= now). NNNN is the rule's index in the full list, so
// skipped rules leave gaps; the Linux agent tolerates them, the Mirage
// firewall stops at the first.
//
// A zero ip gives no entries: dom0 skips a family the qube has no address for.
func Entries(ip netip.Addr, rules []ir.Rule, now int64) []Entry {
	if !ip.IsValid() {
		return nil
	}
	ip = ip.WithZone("")
	dir := ir.QubesDBDir(ip)
	entries := []Entry{
		{Op: Remove, Path: dir + "/"},
		{Op: Write, Path: dir + "/policy", Value: "drop"},
	}
	fam := family(ip)
	for i, r := range rules {
		if ir.InFamilyList(r, fam, now) {
			entries = append(entries, Entry{Op: Write, Path: ir.QubesDBKey(ip, i), Value: ir.QubesDBLine(r)})
		}
	}
	return append(entries, Entry{Op: Write, Path: dir})
}

// dnsPath returns the key under which the Linux agent exports what it
// resolved host to for client ip.
func dnsPath(ip netip.Addr, host string) string { return "/dns/" + ip.String() + "/" + host }

// family returns 4 or 6, the address family of ip.
func family(ip netip.Addr) int {
	if ip.Is4() {
		return 4
	}
	return 6
}
