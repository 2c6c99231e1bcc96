package mirage

import (
	"strconv"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// How the unikernel treats a packet once a rule decides.
const (
	howAccept = "accepted: NATed to the firewall's address on the way to the netvm and beyond (replies pass by the NAT entry without the rules), or forwarded unchanged and without state to another client of this firewall"
	howDrop   = "dropped silently, without an ICMP error"
)

// explain says how rel enforces r, a rule the unikernel reads and parses:
// what it matches and what becomes of the packets.
func explain(r ir.Rule, rel Release) string {
	s := r.Action.String() + " " + protoPhrase(r.Match) + " " + dstPhrase(r.Match, rel)
	if r.DNS && r.Proto != ir.AnyProto {
		s += " (specialtarget=dns is ignored in a rule with a protocol)"
	}
	if r.Dst.Host != "" && !rel.NamesWork() {
		return s + ": never matches, as " + rel.Version + " cannot resolve names"
	}
	if r.Action == ir.Accept {
		return s + "; " + howAccept
	}
	return s + "; " + howDrop
}

// protoPhrase describes the protocol part of m as the unikernel matches
// it: "tcp port 22", "all udp", "icmp type 8", "all traffic".
func protoPhrase(m ir.Match) string {
	switch {
	case m.Proto == ir.TCP || m.Proto == ir.UDP:
		if !m.HasPorts {
			return "all " + m.Proto.String()
		}
		if m.Ports.First == m.Ports.Last {
			return m.Proto.String() + " port " + strconv.Itoa(int(m.Ports.First))
		}
		return m.Proto.String() + " ports " + strconv.Itoa(int(m.Ports.First)) + "-" + strconv.Itoa(int(m.Ports.Last))
	case m.Proto == ir.ICMP:
		if m.HasICMPType {
			return "icmp type " + strconv.Itoa(int(m.ICMPType))
		}
		return "all icmp"
	case m.DNS:
		return "tcp and udp port 53"
	}
	return "all traffic"
}

// dstPhrase describes the destination of m as rel matches it.
func dstPhrase(m ir.Match, rel Release) string {
	switch {
	case dnsOnly(m):
		s := "to the DNS servers 10.139.1.1 and 10.139.1.2"
		if rel.DNSFromQubesDB {
			s = "to the DNS servers in QubesDB (/qubes-primary-dns, /qubes-secondary-dns)"
		}
		if !anyIPv4(m.Dst) {
			s += " that are also " + m.Dst.String()
		}
		return s
	case m.Dst.Host != "":
		return "to the IPv4 addresses of " + m.Dst.Host + ", looked up at " + rel.Resolver.String() +
			" for each new connection (A records, cached by TTL, 5 s timeout; the rule is skipped if the lookup fails)"
	case anyIPv4(m.Dst):
		return "to any IPv4 address"
	}
	return "to " + m.Dst.String()
}

// anyIPv4 reports whether d, the destination of a rule the unikernel
// reads, is every IPv4 address: none, or 0.0.0.0/0.
func anyIPv4(d ir.Dst) bool { return d.IsAny() || d.Prefix.IsValid() && d.Prefix.Bits() == 0 }
