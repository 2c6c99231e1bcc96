package nftables

import (
	"strconv"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The expressions of qfw's rules. Each renders as nft text and as the
// netlink expressions nft itself sends for that text, so that a table
// applied either way lists the same (see TestNetlinkMatchesText). nft adds
// a "meta nfproto" match before the first IPv4 or IPv6 header field of an
// inet rule; ruleCtx keeps track of whether a rule has one.

// ruleCtx is the state of one rule's netlink expressions as they are
// built.
type ruleCtx struct {
	family    int
	nfprotoOK bool
}

// netlinkExpr is the netlink half of Expr.
type netlinkExpr interface {
	netlink(c *ruleCtx) []expr.Any
}

// nfproto returns the match on the rule's family, once per rule.
func (c *ruleCtx) nfproto() []expr.Any {
	if c.nfprotoOK {
		return nil
	}
	c.nfprotoOK = true
	proto := byte(unix.NFPROTO_IPV4)
	if c.family == 6 {
		proto = unix.NFPROTO_IPV6
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
	}
}

// ipKeyword is "ip" or "ip6", the prefix of a family's header fields.
func ipKeyword(family int) string {
	if family == 6 {
		return "ip6"
	}
	return "ip"
}

// addrField returns the expression that loads the source or destination
// address of the family into register 1.
func addrField(family int, dst bool) *expr.Payload {
	p := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4}
	if family == 6 {
		p.Offset, p.Len = 8, 16
	}
	if dst {
		p.Offset += p.Len
	}
	return p
}

// ctEstablished matches packets of known connections:
// ct state established,related.
type ctEstablished struct{}

func (ctEstablished) text(int) string { return "ct state established,related" }

func (ctEstablished) netlink(*ruleCtx) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{
			SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  binaryutil.NativeEndian.PutUint32(0),
		},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
	}
}

// notFromClient matches packets that come in on an interface that is not a
// client's: iifname != "vif*".
type notFromClient struct{}

func (notFromClient) text(int) string { return `iifname != "vif*"` }

func (notFromClient) netlink(*ruleCtx) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		// A trailing * is a prefix match: nft compares the prefix alone.
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte("vif")},
	}
}

// sourceVmap dispatches by source address through a verdict map:
// ip saddr vmap @clients4.
type sourceVmap struct{ set string }

func (e sourceVmap) text(f int) string { return ipKeyword(f) + " saddr vmap @" + e.set }

func (e sourceVmap) netlink(c *ruleCtx) []expr.Any {
	return append(c.nfproto(), addrField(c.family, false),
		&expr.Lookup{SourceRegister: 1, SetName: e.set, DestRegister: 0, IsDestRegSet: true})
}

// dstIn matches a destination in a set: ip daddr @set.
type dstIn struct{ set string }

func (e dstIn) text(f int) string { return ipKeyword(f) + " daddr @" + e.set }

func (e dstIn) netlink(c *ruleCtx) []expr.Any {
	return append(c.nfproto(), addrField(c.family, true), &expr.Lookup{SourceRegister: 1, SetName: e.set})
}

// portIn matches destination, protocol and port in a set:
// ip daddr . meta l4proto . th dport @set.
type portIn struct{ set string }

func (e portIn) text(f int) string {
	return ipKeyword(f) + " daddr . meta l4proto . th dport @" + e.set
}

func (e portIn) netlink(c *ruleCtx) []expr.Any {
	// The address fills register 1 for IPv4 (32-bit register 8) and all
	// of it for IPv6; protocol and port follow in the next 32-bit
	// registers, numbered as nft numbers them.
	proto, port := uint32(9), uint32(10)
	if c.family == 6 {
		proto, port = 2, 13
	}
	return append(c.nfproto(), addrField(c.family, true),
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: proto},
		&expr.Byteorder{SourceRegister: proto, DestRegister: proto, Op: expr.ByteorderHton, Len: 1, Size: 2},
		&expr.Payload{DestRegister: port, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: 1, SetName: e.set})
}

// icmpIn matches destination and ICMP type in a set:
// meta l4proto icmp ip daddr . icmp type @set.
type icmpIn struct{ set string }

func (e icmpIn) text(f int) string {
	if f == 6 {
		return "meta l4proto ipv6-icmp ip6 daddr . icmpv6 type @" + e.set
	}
	return "meta l4proto icmp ip daddr . icmp type @" + e.set
}

func (e icmpIn) netlink(c *ruleCtx) []expr.Any {
	proto, typeReg := byte(unix.IPPROTO_ICMP), uint32(9)
	if c.family == 6 {
		proto, typeReg = unix.IPPROTO_ICMPV6, 2
	}
	out := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
	}
	out = append(out, c.nfproto()...)
	return append(out, addrField(c.family, true),
		&expr.Payload{DestRegister: typeReg, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		&expr.Lookup{SourceRegister: 1, SetName: e.set})
}

// l4Port matches a protocol and a destination port:
// meta l4proto tcp th dport 53.
type l4Port struct {
	proto uint8
	port  uint16
}

func (e l4Port) text(int) string {
	return "meta l4proto " + protoName(e.proto) + " th dport " + strconv.Itoa(int(e.port))
}

func (e l4Port) netlink(*ruleCtx) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{e.proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(e.port)},
	}
}

// accept is the verdict accept.
type accept struct{}

func (accept) text(int) string { return "accept" }

func (accept) netlink(*ruleCtx) []expr.Any {
	return []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}
}

// reject is how Qubes drops: a reject with ICMP (or ICMPv6)
// admin-prohibited, so that the client learns at once.
type reject struct{}

func (reject) text(f int) string {
	if f == 6 {
		return "reject with icmpv6 type admin-prohibited"
	}
	return "reject with icmp type admin-prohibited"
}

func (reject) netlink(c *ruleCtx) []expr.Any {
	// NFT_REJECT_ICMP_UNREACH with code 13 (ICMP communication
	// administratively prohibited) or 1 (ICMPv6 the same).
	code := uint8(13)
	if c.family == 6 {
		code = 1
	}
	return append(c.nfproto(), &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: code})
}

// protoName returns the nft name of an IP protocol number.
func protoName(p uint8) string {
	switch p {
	case unix.IPPROTO_TCP:
		return "tcp"
	case unix.IPPROTO_UDP:
		return "udp"
	case unix.IPPROTO_ICMP:
		return "icmp"
	case unix.IPPROTO_ICMPV6:
		return "ipv6-icmp"
	}
	return strconv.Itoa(int(p))
}
