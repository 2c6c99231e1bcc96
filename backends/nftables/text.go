package nftables

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/qfw-dev/qfw/compiler/space"
)

// Text renders t as an nft script that puts qfw's table in force
// atomically: nft applies a whole file as one transaction. The script works
// whether the table exists or not, and never deletes the table or a base
// chain, which would unhook it for a moment (see replace): it declares the
// table and its sets, flushes every rule of the table, deletes its sets,
// and declares the table again in full, sets made anew and the guard set
// last as Apply does (see baseChains). A client's chain or set that the
// table held and t has not stays, empty or unused; qfw apply removes it.
// The same table renders to the same bytes.
func (t *Table) Text() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "table inet %s {\n", TableName)
	for _, s := range t.Sets {
		s.declare(&b)
	}
	fmt.Fprintf(&b, "}\nflush table inet %s\n", TableName)
	for _, s := range t.Sets {
		fmt.Fprintf(&b, "delete %s inet %s %s\n", s.keyword(), TableName, s.Name)
	}
	fmt.Fprintf(&b, "table inet %s {\n", TableName)
	for _, s := range t.Sets {
		s.text(&b)
	}
	for _, c := range t.Chains {
		c.text(&b)
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// keyword is "map" for a verdict map, "set" for the others.
func (s *Set) keyword() string {
	if s.Kind == VerdictMap {
		return "map"
	}
	return "set"
}

func (s *Set) text(b *bytes.Buffer) {
	s.declare(b)
	if len(s.Elements) == 0 {
		return
	}
	// Into the declaration, before its closing brace.
	b.Truncate(b.Len() - len("\t}\n"))
	b.WriteString("\t\telements = {")
	for i, e := range s.Elements {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n\t\t\t")
		b.WriteString(s.elementText(e))
	}
	b.WriteString("\n\t\t}\n\t}\n")
}

// declare renders the set's declaration without its elements.
func (s *Set) declare(b *bytes.Buffer) {
	typ, interval := "", false
	addr := "ipv4_addr"
	if s.Family == 6 {
		addr = "ipv6_addr"
	}
	switch s.Kind {
	case AddrSet:
		typ, interval = addr, true
	case HostSet:
		typ = addr
	case PortSet:
		typ, interval = addr+" . inet_proto . inet_service", true
	case ICMPSet:
		icmp := "icmp_type"
		if s.Family == 6 {
			icmp = "icmpv6_type"
		}
		typ, interval = addr+" . "+icmp, true
	case VerdictMap:
		typ = addr + " : verdict"
	case GuardSet:
		typ, interval = "mark . mark", true
	}
	fmt.Fprintf(b, "\t%s %s {\n\t\ttype %s\n", s.keyword(), s.Name, typ)
	if interval {
		b.WriteString("\t\tflags interval\n")
	}
	b.WriteString("\t}\n")
}

// elementText renders one element as nft reads it.
func (s *Set) elementText(e Element) string {
	switch s.Kind {
	case PortSet:
		return addrRange(e.First, e.Last) + " . " + protoName(e.Proto) + " . " + numRange(e.Low, e.High)
	case ICMPSet:
		return addrRange(e.First, e.Last) + " . " + numRange(e.Low, e.High)
	case VerdictMap:
		return e.First.String() + " : jump " + e.Jump
	case GuardSet:
		return "0x00000000-0xffffffff . 0x00000000-0xffffffff"
	}
	return addrRange(e.First, e.Last)
}

// addrRange renders an address range as an address, a prefix when it is
// one, or first-last.
func addrRange(first, last netip.Addr) string {
	if first == last {
		return first.String()
	}
	for bits := first.BitLen() - 1; bits >= 0; bits-- {
		p := netip.PrefixFrom(first, bits)
		if p.Masked().Addr() != first {
			break
		}
		if _, hi := space.PrefixRange(p); hi.Addr(first.Is4()) == last {
			return p.String()
		}
	}
	return first.String() + "-" + last.String()
}

func numRange(low, high uint16) string {
	if low == high {
		return strconv.Itoa(int(low))
	}
	return strconv.Itoa(int(low)) + "-" + strconv.Itoa(int(high))
}

func (c *Chain) text(b *bytes.Buffer) {
	fmt.Fprintf(b, "\tchain %s {\n", c.Name)
	if h := c.Hook.text(); h != "" {
		fmt.Fprintf(b, "\t\t%s\n", h)
	}
	for _, r := range c.Rules {
		parts := make([]string, len(r.Exprs))
		for i, e := range r.Exprs {
			parts[i] = e.text(r.Family)
		}
		if r.Comment != "" {
			parts = append(parts, strconv.Quote(r.Comment))
			parts[len(parts)-2] += " comment"
		}
		fmt.Fprintf(b, "\t\t%s\n", strings.Join(parts, " "))
	}
	b.WriteString("\t}\n")
}

// text renders the hook's line in a base chain's declaration, or "" for a
// regular chain.
func (h Hook) text() string {
	switch h {
	case Forward:
		return "type filter hook forward priority filter; policy drop;"
	case Prerouting:
		return "type filter hook prerouting priority raw; policy accept;"
	case Postrouting:
		return "type filter hook postrouting priority raw; policy accept;"
	}
	return ""
}
