package nftables

import (
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The expressions of the base chains' rules, beside those of exprs.go:
// which way a packet goes in its connection, the guard against conntrack's
// pickup of TCP connections in the middle, and the anti-spoofing matches.

// ctOriginal matches packets that go the way their connection started:
// ct direction original.
type ctOriginal struct{}

func (ctOriginal) text(int) string { return "ct direction original" }

// IP_CT_DIR_ORIGINAL is 0.
func (ctOriginal) netlink(*ruleCtx) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeyDIRECTION},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0}},
	}
}

// ctNew matches the first packet of a connection: ct state new.
type ctNew struct{}

func (ctNew) text(int) string { return "ct state new" }

func (ctNew) netlink(*ruleCtx) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{
			SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW),
			Xor:  binaryutil.NativeEndian.PutUint32(0),
		},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
	}
}

// l4Proto matches an IP protocol: meta l4proto tcp.
type l4Proto struct{ proto uint8 }

func (e l4Proto) text(int) string { return "meta l4proto " + protoName(e.proto) }

func (e l4Proto) netlink(*ruleCtx) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{e.proto}},
	}
}

// tcpNoSyn matches TCP segments without SYN: tcp flags ! syn. One that
// opens a connection in conntrack's eyes is a pickup in the middle of a
// connection it does not know (nf_conntrack_tcp_loose), which may be one
// that a purge has just ended.
type tcpNoSyn struct{}

func (tcpNoSyn) text(int) string { return "tcp flags ! syn" }

func (tcpNoSyn) netlink(*ruleCtx) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		// The flags are the 14th byte of the TCP header; SYN is 0x02.
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{0x02}, Xor: []byte{0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0}},
	}
}

// ifName matches the input or output interface's name against the
// clients' vif* (a trailing * is a prefix match: nft compares the prefix
// alone): iifname != "vif*", oifname "vif*".
type ifName struct{ out, client bool }

var (
	// toClient: oifname "vif*".
	toClient = ifName{out: true, client: true}
	// notToClient: oifname != "vif*".
	notToClient = ifName{out: true}
)

func (e ifName) text(int) string {
	s := "iifname "
	if e.out {
		s = "oifname "
	}
	if !e.client {
		s += "!= "
	}
	return s + `"vif*"`
}

func (e ifName) netlink(*ruleCtx) []expr.Any {
	key, op := expr.MetaKeyIIFNAME, expr.CmpOpNeq
	if e.out {
		key = expr.MetaKeyOIFNAME
	}
	if e.client {
		op = expr.CmpOpEq
	}
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: []byte("vif")},
	}
}

// srcIn matches a source in a set: ip saddr @set.
type srcIn struct{ set string }

func (e srcIn) text(f int) string { return ipKeyword(f) + " saddr @" + e.set }

func (e srcIn) netlink(c *ruleCtx) []expr.Any {
	return append(c.nfproto(), addrField(c.family, false), &expr.Lookup{SourceRegister: 1, SetName: e.set})
}

// drop is the verdict drop, for what is dropped without an answer: spoofed
// packets, and packets of connections that a purge ended.
type drop struct{}

func (drop) text(int) string { return "drop" }

func (drop) netlink(*ruleCtx) []expr.Any {
	return []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}
}

// guardMiss matches a packet that the guard set does not hold, which is
// every packet while the set is new in a commit that is not over, and
// none after: meta mark . meta mark != @guard.
type guardMiss struct{ set string }

func (e guardMiss) text(int) string { return "meta mark . meta mark != @" + e.set }

func (e guardMiss) netlink(*ruleCtx) []expr.Any {
	// An interval set holds its keys in network order; the mark is in the
	// host's. The second mark goes in the 32-bit register after the first.
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 9},
		&expr.Byteorder{SourceRegister: 9, DestRegister: 9, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Lookup{SourceRegister: 1, SetName: e.set, Invert: true},
	}
}

// jump is the verdict jump to a regular chain.
type jump struct{ chain string }

func (e jump) text(int) string { return "jump " + e.chain }

func (e jump) netlink(*ruleCtx) []expr.Any {
	return []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: e.chain}}
}
