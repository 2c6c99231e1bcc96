package policy

import (
	"cuelang.org/go/cue/token"
)

// Policy is a loaded policy.
type Policy struct {
	// Qubes holds the qubes the policy manages, sorted by name.
	Qubes []Qube
	// Firewalls holds the firewalls section, sorted by name.
	Firewalls []Firewall
	// Tests holds the policy's assertions in their order.
	Tests []Test
	// Resolve holds the host names pinned to addresses, in their order.
	Resolve []Pinned
	// Inventory is the inventory the policy was evaluated with.
	Inventory *Inventory
}

// Qube is one entry of the qubes section.
type Qube struct {
	Name string
	Pos  token.Pos
	// NoNetwork is set by `network: false`.
	NoNetwork bool
	// Rules holds the allow rules, then the deny rules, each sorted by name.
	Rules []Rule
	// Acks are the kinds of warning about the qube itself that it
	// acknowledges (its ack field), each where it is written.
	Acks []String
}

// Rule is one entry of a qube's allow or deny map.
type Rule struct {
	Deny bool
	Name string
	Pos  token.Pos
	// To holds the destinations, lists flattened, in their order; it is
	// nil when the rule has no `to`.
	To    []String
	HasTo bool
	DNS   bool
	// Services is the union of the rule's service field and its own tcp,
	// udp, icmp and icmpv6 fields. HasService tells an empty service list
	// (which matches nothing) from none (which matches every protocol).
	Services   []Service
	HasService bool
	// Priority is the rule's priority, 100 if it has none.
	Priority int
	// Expire is the expire field as written (RFC 3339 or digits).
	Expire String
	// Comment is the comment field; HasComment tells an empty comment from
	// none.
	Comment    String
	HasComment bool
	// Shadowed says the rule is known never to take effect, as written
	// by qfw import for a list that has such a rule: the compiler keeps it
	// and warns, rather than refusing it.
	Shadowed bool
	// Acks are the kinds of warning the rule acknowledges (its ack
	// field), each where it is written.
	Acks []String
}

// DefaultPriority is the priority of a rule that does not set one.
const DefaultPriority = 100

// MaxPriority is the highest priority a rule may have.
const MaxPriority = 9999

// Path returns the rule's CUE path in the policy.
func (r *Rule) Path(qube string) string {
	kind := "allow"
	if r.Deny {
		kind = "deny"
	}
	return Path("qubes", qube, kind, r.Name)
}

// Service is a set of protocols and ports.
type Service struct {
	Pos token.Pos
	// TCP and UDP hold ports as written: "443" or "8000-8100".
	TCP, UDP []String
	// AllTCP and AllUDP are set by tcp: true and udp: true: every port.
	AllTCP, AllUDP bool
	// ICMP is set when the service has an icmp field; ICMPTypes nil then
	// means every type.
	ICMP      bool
	ICMPTypes []Int
	// ICMPv6Types are the ICMPv6 types of the icmpv6 field.
	ICMPv6Types []Int
}

// String is a string value and where it was written.
type String struct {
	S   string
	Pos token.Pos
}

// Int is an integer value and where it was written.
type Int struct {
	N   int64
	Pos token.Pos
}

// Firewall is one entry of the firewalls section.
type Firewall struct {
	Name string
	Pos  token.Pos
	// Backend is "qubes", "nftables" or "mirage".
	Backend       string
	MirageVersion string
	KernelSHA256  string
	KernelPath    string
	KernelDir     string
	// MirageNetvm and MirageLabel are the netvm and label the policy gives
	// a unikernel firewall qube; empty when it gives none.
	MirageNetvm, MirageLabel string
}

// Test is one assertion of the tests section.
type Test struct {
	// Index is the test's position in the list.
	Index int
	Pos   token.Pos
	From  String
	// To is "any", an address, a prefix or a host name.
	To String
	// Proto is "tcp", "udp", "icmp" or "" for none given.
	Proto   String
	Port    Int
	HasPort bool
	ICMP    Int
	HasICMP bool
	// ICMPv6 says that ICMP is an ICMPv6 type (the icmpv6 field).
	ICMPv6 bool
	// Addresses pins what To, a host name, resolves to.
	Addresses []String
	// Expect is "accept" or "drop".
	Expect String
}

// Pinned is one entry of the resolve section: a host name and what it
// resolves to.
type Pinned struct {
	// Name is the host name; its position is that of its list.
	Name  String
	Addrs []String
}
