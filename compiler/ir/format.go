package ir

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// QubesDBDir returns the QubesDB directory of a firewall qube's client
// with address ip. dom0 names it with Python's str() of the address, which
// is netip's form: dotted quad, or compressed lowercase IPv6.
func QubesDBDir(ip netip.Addr) string { return "/qubes-firewall/" + ip.String() }

// QubesDBIndex returns the last element of the QubesDB key of rule i of a
// client's list: its place in the whole list, in at least four digits, as
// dom0's "{:04}" writes it.
func QubesDBIndex(i int) string { return fmt.Sprintf("%04d", i) }

// QubesDBKey returns the QubesDB key of rule i of the client with address
// ip.
func QubesDBKey(ip netip.Addr, i int) string { return QubesDBDir(ip) + "/" + QubesDBIndex(i) }

// QubesDBLine returns r as dom0 writes it into a firewall qube's QubesDB:
// the action, then the options of its match (see [WriteMatch]). Expiry and
// comment stay in dom0.
//
// r must be valid (see [Rule.Validate]).
func QubesDBLine(r Rule) string {
	var b strings.Builder
	b.WriteString("action=")
	b.WriteString(r.Action.String())
	WriteMatch(&b, r.Match)
	return b.String()
}

// WriteMatch writes the options of m, each after a space, as dom0 writes
// them in Admin API lines and QubesDB alike: dst4|dst6|dsthost, proto,
// specialtarget, dstports (always LO-HI), icmptype, in that order.
func WriteMatch(b *strings.Builder, m Match) {
	// Numbers and prefixes are appended to buf, not made into strings
	// first: every rule of a compile is written.
	var buf [64]byte
	switch {
	case m.Dst.Host != "":
		b.WriteString(" dsthost=")
		b.WriteString(m.Dst.Host)
	case m.Dst.Family() == 4:
		// dom0 keeps 0.0.0.0/0 and ::/0: they restrict a rule to one family.
		b.WriteString(" dst4=")
		b.Write(m.Dst.Prefix.AppendTo(buf[:0]))
	case m.Dst.Family() == 6:
		b.WriteString(" dst6=")
		b.Write(m.Dst.Prefix.AppendTo(buf[:0]))
	}
	if m.Proto != AnyProto {
		b.WriteString(" proto=")
		b.WriteString(m.Proto.String())
	}
	if m.DNS {
		b.WriteString(" specialtarget=dns")
	}
	if m.HasPorts {
		b.WriteString(" dstports=")
		b.Write(strconv.AppendUint(buf[:0], uint64(m.Ports.First), 10))
		b.WriteByte('-')
		b.Write(strconv.AppendUint(buf[:0], uint64(m.Ports.Last), 10))
	}
	if m.HasICMPType {
		b.WriteString(" icmptype=")
		b.Write(strconv.AppendUint(buf[:0], uint64(m.ICMPType), 10))
	}
}

// QubesDBLineLen returns len(QubesDBLine(r)) without building the line, so
// that checking every rule against QubesDB's limit costs no allocation.
func QubesDBLineLen(r Rule) int {
	return len("action=") + len(r.Action.String()) + MatchLen(r.Match)
}

// MatchLen returns the number of bytes WriteMatch writes for m.
func MatchLen(m Match) int {
	n := 0
	switch {
	case m.Dst.Host != "":
		n += len(" dsthost=") + len(m.Dst.Host)
	case m.Dst.Family() == 4, m.Dst.Family() == 6:
		var buf [64]byte
		n += len(" dst4=") + len(m.Dst.Prefix.AppendTo(buf[:0]))
	}
	if m.Proto != AnyProto {
		n += len(" proto=") + len(m.Proto.String())
	}
	if m.DNS {
		n += len(" specialtarget=dns")
	}
	if m.HasPorts {
		n += len(" dstports=") + DigitsLen(int64(m.Ports.First)) + len("-") + DigitsLen(int64(m.Ports.Last))
	}
	if m.HasICMPType {
		n += len(" icmptype=") + DigitsLen(int64(m.ICMPType))
	}
	return n
}

// DigitsLen returns len(strconv.FormatInt(i, 10)).
func DigitsLen(i int64) int {
	n := 1
	if i < 0 {
		n++
		if i == -i { // math.MinInt64 has no positive counterpart.
			return len(strconv.FormatInt(i, 10))
		}
		i = -i
	}
	for ; i >= 10; i /= 10 {
		n++
	}
	return n
}
