package ir

import (
	"cmp"
	"net/netip"
	"slices"

	"cuelang.org/go/cue/token"
)

// Action is the verdict of a rule.
type Action uint8

const (
	// Accept lets the packet through.
	Accept Action = iota + 1
	// Drop refuses the packet. Linux firewall qubes enforce it as an ICMP
	// admin-prohibited reject.
	Drop
)

func (a Action) String() string {
	switch a {
	case Accept:
		return "accept"
	case Drop:
		return "drop"
	}
	return "invalid"
}

// Proto is the protocol a rule matches.
type Proto uint8

const (
	// AnyProto matches every protocol.
	AnyProto Proto = iota
	TCP
	UDP
	ICMP
)

func (p Proto) String() string {
	switch p {
	case AnyProto:
		return ""
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case ICMP:
		return "icmp"
	}
	return "invalid"
}

// PortRange is an inclusive range of destination ports.
type PortRange struct {
	First, Last uint16
}

// Contains reports whether port is in r.
func (r PortRange) Contains(port uint16) bool { return r.First <= port && port <= r.Last }

// MergeRanges sorts rs in place and returns their union as sorted ranges
// that neither overlap nor touch.
func MergeRanges(rs []PortRange) []PortRange {
	slices.SortFunc(rs, func(a, b PortRange) int { return cmp.Compare(a.First, b.First) })
	var out []PortRange
	for _, r := range rs {
		if n := len(out); n > 0 && uint32(r.First) <= uint32(out[n-1].Last)+1 {
			out[n-1].Last = max(out[n-1].Last, r.Last)
			continue
		}
		out = append(out, r)
	}
	return out
}

// Dst is the destination of a rule. The zero Dst matches every destination.
// At most one of Prefix and Host is set.
type Dst struct {
	// Prefix is an IPv4 or IPv6 prefix with no host bits set; an address is
	// a /32 or /128 prefix.
	Prefix netip.Prefix
	// Host is a lowercase DNS name, resolved by the firewall qube.
	Host string
}

// IsAny reports whether d matches every destination.
func (d Dst) IsAny() bool { return !d.Prefix.IsValid() && d.Host == "" }

// Family returns 4 or 6 for a prefix destination, and 0 for a destination
// that applies to both families (a host name, or any).
func (d Dst) Family() int {
	switch {
	case !d.Prefix.IsValid():
		return 0
	case d.Prefix.Addr().Is4():
		return 4
	}
	return 6
}

// Match is what a rule matches. Its zero value matches every packet.
// Match is comparable; two rules with equal Matches match the same packets.
type Match struct {
	Dst   Dst
	Proto Proto
	// DNS restricts the rule to the qube's DNS servers on port 53
	// (specialtarget=dns).
	DNS bool
	// HasPorts says whether Ports applies; only with TCP or UDP.
	HasPorts bool
	Ports    PortRange
	// HasICMPType says whether ICMPType applies; only with ICMP.
	HasICMPType bool
	ICMPType    uint8
}

// Rule is one rule of the Qubes firewall: what dom0 stores, one line of
// admin.vm.firewall.Get.
type Rule struct {
	Action Action
	Match
	// Expire is when dom0 drops the rule, in UNIX seconds; 0 is never.
	Expire int64
	// Comment is stored by dom0 and never reaches the firewall qube.
	Comment string
	// Origin says where in the policy the rule came from; it is zero for a
	// rule read from dom0.
	Origin Origin
}

// Kind is the map a policy rule was declared in.
type Kind uint8

const (
	Allow Kind = iota + 1
	Deny
)

func (k Kind) String() string {
	if k == Deny {
		return "deny"
	}
	return "allow"
}

// Origin is the provenance of a compiled rule.
type Origin struct {
	Kind Kind
	// Name is the rule's key in the qube's allow or deny map.
	Name string
	// Pos is the position of the rule in the policy.
	Pos token.Pos
}

// String returns "allow.name" or "deny.name", the rule's path in its qube.
func (o Origin) String() string {
	if o.Name == "" {
		return ""
	}
	return o.Kind.String() + "." + o.Name
}

// Program is a compiled policy.
type Program struct {
	// Qubes holds every managed qube, sorted by name.
	Qubes []Qube
	// Firewalls holds every firewall qube named in the policy or serving a
	// managed qube, sorted by name.
	Firewalls []Firewall
	// Tests holds the policy's tests in their order.
	Tests []Test
	// Resolve pins what host names resolve to, for tests and explain.
	Resolve map[string][]netip.Addr
}

// Qube is the compiled intent for one qube.
type Qube struct {
	Name string
	// Netvm is the qube whose firewall enforces Rules; empty if none.
	Netvm string
	// IP and IP6 are the qube's addresses; the zero Addr if it has none.
	IP, IP6 netip.Addr
	// Network is false for a qube declared with network: false.
	Network bool
	// Rules is the ordered rule list; the implicit final verdict is drop.
	Rules []Rule
	// Pos is where the qube is declared.
	Pos token.Pos
}

// Backend is the software that enforces rules in a firewall qube.
type Backend uint8

const (
	// QubesAgent is the stock Linux qubes-firewall agent.
	QubesAgent Backend = iota
	// Nftables is qfw's own nftables agent.
	Nftables
	// Mirage is the MirageOS unikernel firewall.
	Mirage
)

func (b Backend) String() string {
	switch b {
	case QubesAgent:
		return "qubes"
	case Nftables:
		return "nftables"
	case Mirage:
		return "mirage"
	}
	return "invalid"
}

// Firewall is a qube that enforces the rules of its clients.
type Firewall struct {
	Name    string
	Backend Backend
	// Netvm is the firewall qube's own netvm; empty for one, like sys-net,
	// that has none.
	Netvm string
	// IP is the firewall qube's own address; the zero Addr if the
	// inventory has none.
	IP netip.Addr
	// MirageVersion is the unikernel release, for the Mirage backend.
	MirageVersion string
	// Provision is what qfw makes of a unikernel firewall qube; nil for
	// other backends.
	Provision *Provision
	// Clients are the managed qubes whose netvm this is, sorted.
	Clients []string
	// Pos is where the policy's firewalls section names the qube; it is
	// zero for a firewall qube only the inventory names.
	Pos token.Pos
}

// Provision is the state a unikernel firewall qube must be brought to.
type Provision struct {
	// KernelSHA256 pins the kernel image; empty for the release's own.
	KernelSHA256 string
	// KernelPath is the image to install; empty for none.
	KernelPath string
	// KernelDir is the qube's kernel, a directory of dom0's vm-kernels;
	// empty for the backend's default, as is Label.
	KernelDir string
	Label     string
	// NetvmSet says the policy gives the qube's netvm; if not, the netvm
	// of a qube that exists is left as it is.
	NetvmSet bool
}
