package nftables

import "net/netip"

// TableName is the name of qfw's table, in the inet family.
const TableName = "qfw"

// Table is the whole of qfw's table: its sets and chains, in order.
type Table struct {
	Sets   []*Set
	Chains []*Chain
}

// SetKind says what a set holds.
type SetKind uint8

const (
	// AddrSet holds addresses and address ranges (flags interval).
	AddrSet SetKind = iota
	// PortSet holds address . protocol . port, ranges in the address and
	// the port (flags interval).
	PortSet
	// ICMPSet holds address . ICMP type, ranges in both (flags interval).
	ICMPSet
	// HostSet holds single addresses, without intervals: the DNS servers.
	HostSet
	// VerdictMap maps single addresses to a jump to a chain: the clients.
	VerdictMap
	// GuardSet holds one element that every packet matches (mark . mark,
	// each from 0 to 0xffffffff): see the guard chain in Lower.
	GuardSet
)

// Set is a named set or map of one address family.
type Set struct {
	Name string
	// Family is 4 or 6.
	Family   int
	Kind     SetKind
	Elements []Element
}

// Element is one element of a set: an address range, and for the
// concatenated kinds a protocol and a port or type range, or for a verdict
// map the chain to jump to. All ranges are inclusive.
type Element struct {
	First, Last netip.Addr
	// Proto is the IP protocol number, for PortSet.
	Proto uint8
	// Low and High are the port range (PortSet) or the ICMP type range
	// (ICMPSet).
	Low, High uint16
	// Jump is the chain a VerdictMap element jumps to.
	Jump string
}

// Chain is a chain: a base chain that hooks into the packet path, or a
// client's. Its last rule carries a digest of the chain and its sets as a
// comment (for the forward chain, of the DNS sets only: the client maps are
// each client's part), so that what the kernel holds can be compared with
// what qfw would apply without reading every element back.
type Chain struct {
	Name string
	// Hook makes it a base chain, and says where it hooks in.
	Hook  Hook
	Rules []Rule
}

// Hook says where a base chain hooks into the kernel's packet path. Each
// hook has one type, priority and policy.
type Hook uint8

const (
	// NoHook is a regular chain, reached by a jump.
	NoHook Hook = iota
	// Forward is type filter, hook forward, priority filter (0), policy
	// drop: it judges what the clients send.
	Forward
	// Prerouting and Postrouting are type filter, priority raw (-300),
	// policy accept, as the Linux agent's: they drop packets that spoof a
	// client's address from outside, before conntrack sees them.
	Prerouting
	Postrouting
)

// Rule is a sequence of expressions, the last of them a verdict.
type Rule struct {
	// Family is 4 or 6 for a rule that looks at IPv4 or IPv6 headers, 0
	// for one that does not.
	Family int
	Exprs  []Expr
	// Comment is kept with the rule in the kernel.
	Comment string
}

// Expr is one step of a rule. The set of expressions is closed: each knows
// its nft text and its netlink expressions, and no other package adds one.
type Expr interface {
	text(family int) string
	netlinkExpr
}
