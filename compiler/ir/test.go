package ir

import (
	"net/netip"

	"cuelang.org/go/cue/token"
)

// Test is one assertion of a policy's tests section, checked: the
// destination parsed, the protocol settled.
type Test struct {
	// Index is the test's position in the tests list.
	Index int
	// From is the qube the packets come from.
	From string
	// To is the destination: its zero value is "any", a prefix stands for
	// every address in it, a host for the addresses it resolves to.
	To Dst
	// ToText is To as the policy wrote it.
	ToText string
	// Protos are the protocols to try: one, or when the test names none,
	// tcp, udp, icmp and AnyProto, which stands for every other protocol.
	Protos []Proto
	// HasPort and Port give the destination port; without, every port.
	HasPort bool
	Port    uint16
	// HasICMPType and ICMPType give the ICMP type; without, every type.
	// An ICMP type is tried in IPv4 only, an ICMPv6 type (ICMPv6 set) in
	// IPv6 only.
	HasICMPType bool
	ICMPType    uint8
	ICMPv6      bool
	// Addresses pins what To, a host, resolves to for this test.
	Addresses []netip.Addr
	// Expect is the action every packet of the test must meet.
	Expect Action
	// Pos is where the test is written.
	Pos token.Pos
}
