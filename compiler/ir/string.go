package ir

import (
	"strconv"
	"strings"
)

// String describes m for people, as in "tcp 443 to 192.0.2.0/24"; the
// Qubes grammar has its own formatter in the qubes backend.
func (m Match) String() string {
	var b strings.Builder
	switch {
	case m.Proto != AnyProto:
		b.WriteString(m.Proto.String())
	case m.DNS:
		b.WriteString("tcp/udp")
	default:
		b.WriteString("any protocol")
	}
	switch {
	case m.HasPorts:
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(int(m.Ports.First)))
		if m.Ports.Last != m.Ports.First {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(int(m.Ports.Last)))
		}
	case m.DNS:
		b.WriteString(" 53")
	case m.HasICMPType:
		b.WriteString(" type ")
		b.WriteString(strconv.Itoa(int(m.ICMPType)))
	}
	b.WriteString(" to ")
	switch {
	case m.DNS:
		b.WriteString("the DNS servers")
		if !m.Dst.IsAny() {
			b.WriteString(" that are " + m.Dst.String())
		}
	case m.Dst.IsAny():
		b.WriteString("any destination")
	default:
		b.WriteString(m.Dst.String())
	}
	return b.String()
}

// String returns the prefix or host name of d, or "any".
func (d Dst) String() string {
	switch {
	case d.Host != "":
		return d.Host
	case d.Prefix.IsValid():
		if d.Prefix.IsSingleIP() {
			return d.Prefix.Addr().String()
		}
		return d.Prefix.String()
	}
	return "any"
}
