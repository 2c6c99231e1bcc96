package mirage

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// The checks of packets.go are compared, on random rules, with a reference
// that decides each question packet by packet, from what the checks say
// they assume, without boxes.

// refPrefixes are the destinations the random rules draw from: around and
// inside the client ranges, the DNS servers, elsewhere, and IPv6.
var refPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/0"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("10.136.0.0/14"),
	netip.MustParsePrefix("10.137.0.0/16"),
	netip.MustParsePrefix("10.137.0.0/17"),
	netip.MustParsePrefix("10.137.128.0/17"),
	netip.MustParsePrefix("10.137.0.7/32"),
	netip.MustParsePrefix("10.138.0.0/15"),
	netip.MustParsePrefix("10.138.0.0/16"),
	netip.MustParsePrefix("10.139.1.1/32"),
	netip.MustParsePrefix("192.168.1.0/24"),
	netip.MustParsePrefix("::/0"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("fd00::/8"),
}

// refPorts are the port ranges the random rules draw from.
var refPorts = []ir.PortRange{ports(53, 53), ports(0, 100), ports(50, 60), ports(80, 80), ports(443, 443), ports(1, 65535), ports(0, 65535), ports(1024, 65535), ports(54, 65535)}

// refTypes are the ICMP types the random rules draw from.
var refTypes = []uint8{0, 3, 8, 255}

// randomRule returns a random rule that Validate accepts.
func randomRule(rng *rand.Rand) ir.Rule {
	for {
		var r ir.Rule
		r.Action = []ir.Action{ir.Accept, ir.Drop}[rng.IntN(2)]
		switch k := rng.IntN(len(refPrefixes) + 3); {
		case k < len(refPrefixes):
			r.Dst.Prefix = refPrefixes[k]
		case k == len(refPrefixes):
			r.Dst.Host = "a.example"
		case k == len(refPrefixes)+1:
			r.Dst.Host = "b.example"
		}
		r.Proto = []ir.Proto{ir.AnyProto, ir.TCP, ir.UDP, ir.ICMP}[rng.IntN(4)]
		r.DNS = rng.IntN(3) == 0
		if (r.Proto == ir.TCP || r.Proto == ir.UDP) && rng.IntN(2) == 0 {
			r.HasPorts, r.Ports = true, refPorts[rng.IntN(len(refPorts))]
		}
		if r.Proto == ir.ICMP && rng.IntN(2) == 0 {
			r.HasICMPType, r.ICMPType = true, refTypes[rng.IntN(len(refTypes))]
		}
		if r.Validate() == nil {
			return r
		}
	}
}

// refPacket is one packet's protocol part: its class (protoTCP, …), and
// its destination port or ICMP type.
type refPacket struct {
	class uint8
	port  uint16
}

// refPackets are enough packets to find a shared one: every ICMP type, and
// for tcp and udp, 53 and every port a drawn range starts or ends at. Two
// ranges that meet share the larger of their starts, and one that leaves
// out some port leaves out 0 or 65535.
var refPackets = func() []refPacket {
	var out []refPacket
	ports := []uint16{0, 53, 65535}
	for _, r := range refPorts {
		ports = append(ports, r.First, r.Last)
	}
	slices.Sort(ports)
	for _, p := range slices.Compact(ports) {
		out = append(out, refPacket{protoTCP, p}, refPacket{protoUDP, p})
	}
	for t := range 256 {
		out = append(out, refPacket{protoICMP, uint16(t)})
	}
	return append(out, refPacket{protoOther, 0})
}()

// refMayMatch reports whether m may match packet p beside its destination,
// as rd reads it: in the unikernel, specialtarget=dns with a protocol is
// ignored, and alone means tcp and udp port 53; in a Linux firewall qube,
// it always means port 53 (ports given win, as the checks keep to what a
// rule could match), and ICMP types are not compared.
func refMayMatch(m ir.Match, rd reader, p refPacket) bool {
	var class uint8
	switch m.Proto {
	case ir.TCP:
		class = protoTCP
	case ir.UDP:
		class = protoUDP
	case ir.ICMP:
		class = protoICMP
	}
	dnsAlone := m.DNS && m.Proto == ir.AnyProto
	switch {
	case m.Proto != ir.AnyProto && p.class != class:
		return false
	case dnsAlone && p.class != protoTCP && p.class != protoUDP:
		return false
	}
	switch p.class {
	case protoTCP, protoUDP:
		switch {
		case m.HasPorts:
			return m.Ports.First <= p.port && p.port <= m.Ports.Last
		case m.DNS && (rd == linuxIPv6 || dnsAlone):
			return p.port == 53
		}
	case protoICMP:
		if m.HasICMPType && rd == unikernelIPv4 {
			return uint16(m.ICMPType) == p.port
		}
	}
	return true
}

// refShare reports whether some packet may match both a and b, read by rd,
// whatever their destinations.
func refShare(a, b ir.Match, rd reader) bool {
	for _, p := range refPackets {
		if refMayMatch(a, rd, p) && refMayMatch(b, rd, p) {
			return true
		}
	}
	return false
}

// refDstMatches reports whether the unikernel sends a packet to the IPv4
// address a through m's destination, taking a name to resolve to public
// addresses only, and the DNS servers to be 10.139.1.1 and .2.
func refDstMatches(m ir.Match, a netip.Addr) bool {
	if m.DNS && m.Proto == ir.AnyProto {
		dns := a == netip.MustParseAddr("10.139.1.1") || a == netip.MustParseAddr("10.139.1.2")
		return dns && (m.Dst.IsAny() || m.Dst.Prefix.Contains(a))
	}
	switch {
	case m.Dst.Host != "":
		return a.IsGlobalUnicast() && !a.IsPrivate()
	case m.Dst.IsAny():
		return true
	}
	return m.Dst.Prefix.Contains(a)
}

// refAddrs are enough addresses of c to find one that a drawn destination
// holds: its first and last, and the first of every drawn prefix inside
// it. Two prefixes that meet share the first address of the smaller.
func refAddrs(c netip.Prefix) []netip.Addr {
	out := []netip.Addr{c.Addr(), lastAddr(c)}
	for _, p := range refPrefixes {
		if c.Contains(p.Addr()) {
			out = append(out, p.Addr())
		}
	}
	return out
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(b)
}

func refNameMayUndo(drop, accept ir.Match) bool {
	dnsAlone := func(m ir.Match) bool { return m.DNS && m.Proto == ir.AnyProto }
	return !dnsAlone(drop) && !dnsAlone(accept) && refShare(drop, accept, unikernelIPv4)
}

func refConflictsIPv6(r, d ir.Rule) bool {
	return r.Action != d.Action && refShare(r.Match, d.Match, linuxIPv6)
}

func refClientRangesOf(m ir.Match) []netip.Prefix {
	var out []netip.Prefix
	for _, c := range clientRanges {
		if slices.ContainsFunc(refAddrs(c), func(a netip.Addr) bool { return refDstMatches(m, a) }) {
			out = append(out, c)
		}
	}
	return out
}

// refDropsAll reports whether r drops every packet to c: to its first and
// last address, which a destination holds only with all between, with
// every protocol, port and ICMP type.
func refDropsAll(r ir.Rule, c netip.Prefix) bool {
	if r.Action != ir.Drop {
		return false
	}
	for _, a := range []netip.Addr{c.Addr(), lastAddr(c)} {
		if !refDstMatches(r.Match, a) {
			return false
		}
	}
	for _, p := range refPackets {
		if !refMayMatch(r.Match, unikernelIPv4, p) {
			return false
		}
	}
	return true
}

// checkPair compares the checks with the reference on rules a and b, and
// returns what differs.
func checkPair(a, b ir.Rule) []string {
	var diffs []string
	if g, w := nameMayUndo(a.Match, b.Match), refNameMayUndo(a.Match, b.Match); g != w {
		diffs = append(diffs, fmt.Sprintf("nameMayUndo = %v; want %v", g, w))
	}
	if g, w := conflictsIPv6(a, b), refConflictsIPv6(a, b); g != w {
		diffs = append(diffs, fmt.Sprintf("conflictsIPv6 = %v; want %v", g, w))
	}
	if g, w := clientRangesOf(a.Match), refClientRangesOf(a.Match); !slices.Equal(g, w) {
		diffs = append(diffs, fmt.Sprintf("clientRangesOf(first) = %v; want %v", g, w))
	}
	for _, c := range clientRanges {
		if g, w := dropsAll(a, c), refDropsAll(a, c); g != w {
			diffs = append(diffs, fmt.Sprintf("dropsAll(first, %s) = %v; want %v", c, g, w))
		}
	}
	return diffs
}

// TestPacketChecksMatchReference runs checkPair on every pair of a few
// rules that the checks single out, and on n random pairs.
func TestPacketChecksMatchReference(t *testing.T) {
	const n = 20000
	rules := []ir.Rule{
		drop(ir.Match{}), accept(ir.Match{}), drop(ir.Match{Dst: pfx("10.137.0.0/16")}),
		drop(ir.Match{Dst: pfx("10.136.0.0/14")}), drop(ir.Match{Dst: pfx("10.137.0.0/17")}),
		drop(ir.Match{Dst: host("a.example")}), accept(ir.Match{DNS: true}),
		accept(ir.Match{DNS: true, Proto: ir.TCP}), accept(ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ports(53, 53)}),
		accept(ir.Match{Dst: pfx("2001:db8::/32"), Proto: ir.ICMP, HasICMPType: true, ICMPType: 8}),
		drop(ir.Match{Proto: ir.ICMP, HasICMPType: true, ICMPType: 3}),
	}
	for _, a := range rules {
		for _, b := range rules {
			if d := checkPair(a, b); d != nil {
				t.Errorf("%s, %s: %v", ir.QubesDBLine(a), ir.QubesDBLine(b), d)
			}
		}
	}
	// seen counts the answers of the reference, so that a draw that never
	// asks a check both ways shows.
	seen := map[string]int{}
	rng := rand.New(rand.NewPCG(1, 2))
	for range n {
		a, b := randomRule(rng), randomRule(rng)
		if d := checkPair(a, b); d != nil {
			t.Fatalf("%s, %s: %v", ir.QubesDBLine(a), ir.QubesDBLine(b), d)
		}
		seen[fmt.Sprint("nameMayUndo ", refNameMayUndo(a.Match, b.Match))]++
		seen[fmt.Sprint("conflictsIPv6 ", refConflictsIPv6(a, b))]++
		seen[fmt.Sprint("clientRangesOf ", len(refClientRangesOf(a.Match)))]++
		seen[fmt.Sprint("dropsAll ", refDropsAll(a, clientRanges[0]))]++
	}
	for _, k := range []string{"nameMayUndo", "conflictsIPv6", "dropsAll"} {
		for _, v := range []string{" false", " true"} {
			if seen[k+v] < n/100 {
				t.Errorf("%s was%s in %d of %d draws; want at least 1%%", k, v, seen[k+v], n)
			}
		}
	}
	for _, v := range []string{" 0", " 1", " 2"} {
		if seen["clientRangesOf"+v] < n/100 {
			t.Errorf("clientRangesOf gave%s ranges in %d of %d draws; want at least 1%%", v, seen["clientRangesOf"+v], n)
		}
	}
}
