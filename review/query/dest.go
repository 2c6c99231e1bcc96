package query

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/reach"
	"github.com/qfw-dev/qfw/compiler/space"
	"github.com/qfw-dev/qfw/policytest"
)

// Dest is where the packets asked about go, as DEST[:PORT][/PROTO] says:
// an address, a prefix, a range, a host name or any, a protocol and a
// port. The zero Dest is every protocol to any.
type Dest struct {
	// to is the address, prefix or host name; the zero Dst for any and
	// for a range.
	to ir.Dst
	// first and last are the addresses of a prefix or a range, which
	// are answered per part; invalid for one address, a name or any.
	first, last netip.Addr
	// proto is tcp, udp or icmp, or AnyProto for every protocol.
	proto ir.Proto
	// port is the destination port, 1 to 65535; 0 for every port.
	port uint16
}

// many reports whether d is a prefix or a range.
func (d Dest) many() bool { return d.first.IsValid() }

// Proto returns d's protocol: tcp, udp, icmp, or AnyProto for every
// protocol.
func (d Dest) Proto() ir.Proto { return d.proto }

// Family returns 4 or 6 for an address, a prefix or a range, and 0 for a
// host name or any, which stand for both families.
func (d Dest) Family() int {
	switch {
	case d.to.Family() != 0:
		return d.to.Family()
	case d.many() && d.first.Is4():
		return 4
	case d.many():
		return 6
	}
	return 0
}

// ParseDest parses DEST[:PORT][/PROTO], where DEST is "any", one IPv4 or
// IPv6 address, a prefix, a range FIRST-LAST of one family, or a host
// name (an IPv6 address, prefix or range in brackets when a port
// follows). It takes each part as written, or refuses it: a prefix with
// host bits, an address with a zone or IPv4 mapping, a range backwards or
// across families, port 0 or a port out of range, a protocol other than
// tcp, udp, icmp and any. Without a protocol, a prefix or range without a
// port stands for every protocol, and the rest for tcp.
func ParseDest(s string) (Dest, error) {
	d := Dest{proto: ir.TCP}
	if s == "" {
		return d, errors.New("empty destination; want DEST[:PORT][/PROTO]")
	}
	protoGiven := false
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		// A prefix's length follows a "/" too: a protocol starts with a
		// letter.
		switch suffix := s[i+1:]; {
		case suffix == "":
			return d, errors.New(`no protocol after "/": want tcp, udp, icmp or any`)
		case suffix == "tcp":
		case suffix == "udp":
			d.proto = ir.UDP
		case suffix == "icmp":
			d.proto = ir.ICMP
		case suffix == "any":
			d.proto = ir.AnyProto
		case ('a' <= suffix[0] && suffix[0] <= 'z') || ('A' <= suffix[0] && suffix[0] <= 'Z'):
			return d, fmt.Errorf("unknown protocol %q: want tcp, udp, icmp or any", suffix)
		}
		if d.proto != ir.TCP || s[i+1:] == "tcp" {
			s, protoGiven = s[:i], true
		}
	}
	host, port, hasPort := s, "", false
	bracketed := strings.HasPrefix(s, "[")
	switch {
	case bracketed:
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return d, errors.New("missing ] after the IPv6 address")
		}
		host, port = s[1:end], s[end+1:]
		if port != "" && !strings.HasPrefix(port, ":") {
			return d, errors.New("want [IPV6-ADDRESS]:PORT")
		}
		port, hasPort = strings.CutPrefix(port, ":")
	case strings.Count(s, ":") == 1:
		// More colons make an IPv6 address, whose port needs brackets.
		host, port, hasPort = strings.Cut(s, ":")
	}
	if host == "" {
		return d, errors.New("no address or host name")
	}
	if err := d.parseHost(host); err != nil {
		return d, err
	}
	if bracketed && (d.to.IsAny() && !d.many() || d.to.Host != "" || d.Family() == 4) {
		return d, errors.New("brackets hold an IPv6 address, prefix or range only")
	}
	if !protoGiven && !hasPort && d.many() {
		d.proto = ir.AnyProto
	}
	if !hasPort {
		return d, nil
	}
	switch d.proto {
	case ir.ICMP:
		return d, errors.New("icmp has no ports; give the ICMP type with --icmp-type")
	case ir.AnyProto:
		return d, errors.New("a port goes with tcp or udp, not with every protocol")
	}
	n, err := strconv.ParseUint(port, 10, 16)
	switch {
	case port == "":
		return d, errors.New(`no port after ":"`)
	case err != nil || port[0] == '0' && port != "0":
		return d, fmt.Errorf("port %q: want a number from 1 to 65535", port)
	case n == 0:
		return d, errors.New("port 0: no connection goes to port 0; want a port from 1 to 65535")
	}
	d.port = uint16(n)
	return d, nil
}

// parseHost sets d's destination from host: "any", an address, a range,
// a prefix or a host name.
func (d *Dest) parseHost(host string) error {
	plain := func(s string) (netip.Addr, bool, error) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return a, false, nil
		}
		if a.Zone() != "" || a.Is4In6() {
			return a, true, errors.New("want a plain IPv4 or IPv6 address, without zone or IPv4 mapping")
		}
		return a, true, nil
	}
	if first, last, ok := strings.Cut(host, "-"); ok {
		// A host name may hold a "-" too: a range starts with an address.
		a, isAddr, err := plain(first)
		if err != nil {
			return err
		}
		if isAddr {
			b, isAddr, err := plain(last)
			switch {
			case err != nil:
				return err
			case !isAddr:
				return fmt.Errorf("range %q: %q is not an IP address; want FIRST-LAST, two addresses of one family", host, last)
			case a.Is4() != b.Is4():
				return fmt.Errorf("range %q: %s and %s are of different families", host, a, b)
			case b.Less(a):
				return fmt.Errorf("range %q: %s comes after %s; want FIRST-LAST", host, a, b)
			}
			d.first, d.last = a, b
			return nil
		}
	}
	a, isAddr, err := plain(host)
	switch {
	case err != nil:
		return err
	case host == "any":
		// Every destination: the zero Dst.
		return nil
	case isAddr:
		d.to = ir.Dst{Prefix: netip.PrefixFrom(a, a.BitLen())}
		return nil
	}
	to, err := ir.ParseDst(host)
	if err != nil {
		return err
	}
	d.to = to
	if to.Prefix.IsValid() {
		lo, hi := space.PrefixRange(to.Prefix)
		d.first, d.last = lo.Addr(to.Prefix.Addr().Is4()), hi.Addr(to.Prefix.Addr().Is4())
	}
	return nil
}

// Host returns d's destination without port or protocol.
func (d Dest) Host() string {
	switch {
	case d.to.Prefix.IsValid() || d.to.Host != "":
		return d.to.String()
	case d.many():
		return d.first.String() + "-" + d.last.String()
	}
	return "any"
}

// String formats d as ParseDest reads it back.
func (d Dest) String() string {
	host := d.Host()
	var b strings.Builder
	switch {
	case d.port == 0:
		b.WriteString(host)
	case d.Family() == 6:
		fmt.Fprintf(&b, "[%s]:%d", host, d.port)
	default:
		fmt.Fprintf(&b, "%s:%d", host, d.port)
	}
	switch {
	case d.proto == ir.AnyProto && d.many():
		// Every protocol, as a prefix or range without one says.
	case d.proto == ir.AnyProto:
		b.WriteString("/any")
	case d.proto != ir.TCP || d.many() && d.port == 0:
		b.WriteString("/" + d.proto.String())
	}
	return b.String()
}

// ParseICMPType parses an ICMP type, a decimal number from 0 to 255
// without leading zeros.
func ParseICMPType(s string) (uint8, error) {
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil || s[0] == '0' && s != "0" {
		return 0, errors.New("want an ICMP type from 0 to 255")
	}
	return uint8(n), nil
}

// Question asks about the packets from a qube to a destination.
type Question struct {
	// Text is the destination as the user wrote it, which the answers
	// repeat.
	Text string
	Dest Dest
	// HasICMPType asks about ICMP packets of type ICMPType only; without
	// it, every type is asked about.
	HasICMPType bool
	ICMPType    uint8
	// ExtHeaders asks about IPv6 packets that carry extension headers
	// before their TCP, UDP or ICMPv6 header.
	ExtHeaders bool
}

// PerPart reports whether explain answers q per part ([Explain]) rather
// than per stretch of packets ([ExplainPackets]): for a prefix, a range or
// every protocol.
func (q *Question) PerPart() bool { return q.Dest.many() || q.Dest.proto == ir.AnyProto }

// probe returns the packets q asks about, for policytest.
func (q *Question) probe() policytest.Probe {
	d := q.Dest
	return policytest.Probe{
		To: d.to, Protos: []ir.Proto{d.proto}, HasPort: d.port != 0, Port: d.port,
		ICMPv6: d.to.Family() == 6, HasICMPType: q.HasICMPType, ICMPType: q.ICMPType,
	}
}

// queries returns the packets q asks about, for reach. A host name stands
// for the addresses that res pins for it; one it pins none for is
// refused, as the parts are parts of the address space.
func (q *Question) queries(res eval.Resolver) ([]reach.Query, error) {
	d := q.Dest
	var stretches [][2]netip.Addr
	switch {
	case d.many():
		stretches = append(stretches, [2]netip.Addr{d.first, d.last})
	case d.to.Host != "":
		for _, fam := range []int{4, 6} {
			addrs, known := res.Resolve(d.to.Host, fam)
			if !known {
				return nil, fmt.Errorf("the resolve section pins no addresses for %q: ask about an address, a prefix or a range", d.to.Host)
			}
			for _, a := range addrs {
				stretches = append(stretches, [2]netip.Addr{a, a})
			}
		}
		if len(stretches) == 0 {
			return nil, fmt.Errorf("%q has no address: the resolve section pins none for it", d.to.Host)
		}
	case d.to.Prefix.IsValid():
		a := d.to.Prefix.Addr()
		stretches = append(stretches, [2]netip.Addr{a, a})
	default:
		stretches = append(stretches,
			[2]netip.Addr{netip.IPv4Unspecified(), netip.AddrFrom4([4]byte{255, 255, 255, 255})},
			[2]netip.Addr{netip.IPv6Unspecified(), netip.AddrFrom16([16]byte{0: 0xff, 1: 0xff, 2: 0xff, 3: 0xff, 4: 0xff, 5: 0xff, 6: 0xff, 7: 0xff, 8: 0xff, 9: 0xff, 10: 0xff, 11: 0xff, 12: 0xff, 13: 0xff, 14: 0xff, 15: 0xff})})
	}
	var protos []uint8
	switch d.proto {
	case ir.TCP:
		protos = []uint8{reach.TCP}
	case ir.UDP:
		protos = []uint8{reach.UDP}
	case ir.ICMP:
		protos = []uint8{reach.ICMP}
	default:
		protos = []uint8{reach.TCP, reach.UDP, reach.ICMP, reach.Other}
	}
	var ports *ir.PortRange
	switch {
	case d.port != 0:
		ports = &ir.PortRange{First: d.port, Last: d.port}
	case q.HasICMPType:
		ports = &ir.PortRange{First: uint16(q.ICMPType), Last: uint16(q.ICMPType)}
	}
	out := make([]reach.Query, len(stretches))
	for i, s := range stretches {
		out[i] = reach.Query{First: s[0], Last: s[1], Ext: q.ExtHeaders && s[0].Is6(), Protos: protos, Ports: ports}
	}
	return out, nil
}
