package eval

import (
	"net/netip"
	"slices"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// IP protocol numbers.
const (
	ProtoICMP   uint8 = 1
	ProtoTCP    uint8 = 6
	ProtoUDP    uint8 = 17
	ProtoICMPv6 uint8 = 58
)

// Packet is the first packet of a connection, as a rule sees it.
type Packet struct {
	// Dst is the destination address. The zero Addr means an address of
	// family Family that is not known: one of Host's, unresolved.
	Dst netip.Addr
	// Family is 4 or 6; it is taken from Dst when Dst is valid.
	Family int
	// Host, if set, is a name that the firewall qube resolved to Dst: rules
	// to that name match the packet whatever its address.
	Host string
	// Proto is the IP protocol number (see ProtoTCP and the others).
	Proto uint8
	// Port is the destination port, for TCP and UDP.
	Port uint16
	// ICMPType is the ICMP (or ICMPv6) type, for ICMP.
	ICMPType uint8
	// ExtHeaders says that the packet, an IPv6 one, carries extension
	// headers (hop-by-hop or destination options, routing) before its
	// upper-layer header: the IPv6 header's next-header field names the
	// first of them, not Proto. Ignored in IPv4.
	ExtHeaders bool
}

// IPFamily returns 4 or 6: the family of Dst, or Family if Dst is unknown.
func (p *Packet) IPFamily() int {
	if p.Dst.IsValid() {
		if p.Dst.Is4() {
			return 4
		}
		return 6
	}
	return p.Family
}

// Result is the fate of a packet.
type Result struct {
	// Action is what happens to the packet. A drop is a reject with ICMP
	// admin-prohibited.
	Action ir.Action
	// Rule is the index, in its family's list, of the rule that decided,
	// or -1 when no rule matched and the list's implicit final drop did.
	Rule int
	// Blocked is the index of a rule whose host name has no address in
	// the packet's family, which makes the firewall refuse the whole list
	// and drop every packet of that family; -1 if none. With Nftables
	// semantics only a drop rule's name does: an accept rule to a name
	// without an address matches nothing.
	Blocked int
	// Possible is the index of the first rule before Rule that may match
	// the packet, depending on what a name resolves to, with the other
	// action; -1 if none.
	Possible int
	// MayBlock, for an accept, is the index of a rule to a name whose
	// addresses are not known: if it had none in the packet's family, the
	// list would be refused and the packet dropped (with Nftables
	// semantics, a drop rule's name only). -1 if none.
	MayBlock int
}

// Exact reports whether the result holds whatever the unresolved names
// resolve to.
func (r Result) Exact() bool { return r.Possible < 0 && r.MayBlock < 0 }

// Resolver tells what a host name resolves to in the firewall qube.
type Resolver interface {
	// Resolve returns the addresses of host in family (4 or 6), and
	// whether they are known at all. Known with no addresses means the
	// name does not resolve in that family.
	Resolve(host string, family int) (addrs []netip.Addr, known bool)
}

// LastGoodResolver is a Resolver that remembers what each name resolved
// to before: a name that resolved and then failed (a timeout, a server
// failure, an answer without records) has no addresses now, but had some.
type LastGoodResolver interface {
	Resolver
	// LastGood returns the addresses host last resolved to in family, or
	// none if it never resolved to any.
	LastGood(host string, family int) []netip.Addr
}

// HostAddrs returns the addresses that a rule with action to host matches
// in family as qfw's nftables backend reads it, and whether they are
// known. An accept rule takes the name's addresses now: a name that does
// not resolve now allows nothing. A drop rule takes them too, but if the
// name has none now, the addresses it last resolved to (see
// LastGoodResolver): a lookup that fails must not lift a deny.
func HostAddrs(res Resolver, host string, family int, action ir.Action) ([]netip.Addr, bool) {
	if res == nil {
		return nil, false
	}
	addrs, known := res.Resolve(host, family)
	if len(addrs) > 0 || action != ir.Drop {
		return addrs, known
	}
	if lg, ok := res.(LastGoodResolver); ok {
		if last := lg.LastGood(host, family); len(last) > 0 {
			return last, true
		}
	}
	return addrs, known
}

// Table is a Resolver from a fixed table: a name in the table resolves to
// its addresses of the asked family, and a name not in it is unknown.
type Table map[string][]netip.Addr

// Resolve implements Resolver.
func (t Table) Resolve(host string, family int) ([]netip.Addr, bool) {
	all, ok := t[host]
	if !ok {
		return nil, false
	}
	var out []netip.Addr
	for _, a := range all {
		if a.Is4() == (family == 4) {
			out = append(out, a)
		}
	}
	return out, true
}

// Semantics says whose reading of a list to model.
type Semantics uint8

const (
	// LinuxAgent is the stock qubes-firewall agent. It matches a rule's
	// protocol in IPv6 as the IPv6 header's next-header field (ip6
	// nexthdr), which names the first extension header of a packet that
	// has one, so such a packet misses every rule with a protocol (and so
	// with ports or an ICMP type); a rule without one, a DNS rule too (its
	// ports bring their own protocol match, meta l4proto), still matches it.
	LinuxAgent Semantics = iota
	// Nftables is qfw's nftables backend, which reads these rules
	// and packets as they say instead of as the agent does (see
	// backends/nftables): a DNS rule with ports matches port 53 if they
	// include it; a DNS rule with proto=icmp matches nothing; an ICMP type
	// in a rule for both families without a host name is matched in IPv6
	// as its ICMPv6 counterpart, or not at all (beside a host name it is
	// ICMPv6 type N, as the agent reads it); an accept rule to a name
	// without an address in the family matches nothing, rather than
	// blocking the family, and a drop rule to one keeps the name's last
	// good addresses (see HostAddrs), blocking the family only when it
	// never had any; and the protocol is matched after any IPv6 extension
	// headers (meta l4proto), so they change nothing.
	Nftables
	// Mirage is the MirageOS unikernel firewall (see backends/mirage),
	// given the IPv4 list as it reads it: specialtarget=dns counts only in
	// a rule without a protocol, and with one the rule matches that
	// protocol to every destination; a host name is looked up per
	// connection, A records only, and a name that does not resolve skips
	// its rule instead of blocking the list. It reads no IPv6 list.
	Mirage
)

// Options describe the firewall qube.
type Options struct {
	// Resolver resolves host names; nil means every name is unknown.
	Resolver Resolver
	// DNS4 and DNS6 are the addresses that specialtarget=dns matches, as
	// the firewall qube sees them: the virtual servers 10.139.1.1 and .2
	// in a firewall qube that has a netvm itself (Qubes has no IPv6 ones).
	DNS4, DNS6 []netip.Addr
	// DNSUnknown says the DNS servers' addresses are not known: in a
	// firewall qube without a netvm of its own, such as sys-net, DNS is
	// forwarded to the upstream servers before the rules see it.
	DNSUnknown bool
	Semantics  Semantics
	// NoNames says that rules to host names never match: a release of the
	// unikernel that cannot resolve names.
	NoNames bool
	// Self, with Mirage semantics, is the firewall qube's own address: the
	// unikernel drops every packet to it, whatever the rules, except, with
	// GatewayDNS (releases before 0.8.1), DNS over UDP, which it sends on
	// to its netvm.
	Self       netip.Addr
	GatewayDNS bool
	// Linear says to decide every packet by walking the list, as Eval
	// defines it, without the index that New otherwise builds: for
	// comparing the two.
	Linear bool
}

// QubesDNS returns the virtual DNS servers Qubes gives every networked
// qube.
func QubesDNS() []netip.Addr {
	return []netip.Addr{netip.AddrFrom4([4]byte{10, 139, 1, 1}), netip.AddrFrom4([4]byte{10, 139, 1, 2})}
}

// Evaluator decides packets for one client of one firewall qube. It is
// built once from the client's lists and then evaluates any number of
// packets without allocating, and from any number of goroutines.
type Evaluator struct {
	fams [2]familyRules // IPv4, IPv6
	// self and gatewayDNS are Options.Self and Options.GatewayDNS.
	self       netip.Addr
	gatewayDNS bool
}

// familyRules is one family's list, prepared for matching.
type familyRules struct {
	rules   []rule
	blocked int
	// mayBlock is the first rule to a name whose addresses are unknown.
	mayBlock   int
	dns        []netip.Addr
	dnsUnknown bool
	// byClass holds, for each protocol class, the indices of the rules
	// that can match a packet of that class, in order: a packet is
	// compared only with those.
	byClass [numClasses][]int32
	// index holds the lists compiled for each protocol slot, then for
	// each with extension headers if extDiffers, which they change (see
	// index.go); nil where there is none.
	index      [2 * numSlots]*slotIndex
	extDiffers bool
	indexedAny bool // some slot has an index
}

// Protocol classes, for byClass.
const (
	classTCP = iota
	classUDP
	classICMP
	classOther
	numClasses
)

// class returns the protocol class of proto, an IP protocol number.
func class(proto uint8) int {
	switch proto {
	case ProtoTCP:
		return classTCP
	case ProtoUDP:
		return classUDP
	case ProtoICMP, ProtoICMPv6:
		return classICMP
	}
	return classOther
}

// rule is one ir.Rule prepared for matching in one family: every decision
// that does not depend on the packet is made here.
type rule struct {
	action ir.Action
	skip   bool // the agent leaves the rule out of the chain
	// Destination: at most one of prefix, host and dns is set.
	prefix netip.Prefix
	host   string
	// hostKnown says whether hostAddrs, sorted, are the host's addresses.
	hostKnown bool
	hostAddrs []netip.Addr
	dns       bool
	// proto is the protocol number to match, 0 for any; with dns and no
	// protocol, TCP or UDP.
	proto    uint8
	ports    ir.PortRange
	hasPorts bool
	hasType  bool
	icmpType uint8
	// firstHeader says that the protocol is matched in the IPv6 header's
	// next-header field only: a packet with extension headers misses it.
	firstHeader bool
}

// New prepares an evaluator for a client whose lists, as the firewall qube
// reads them, are rules4 and rules6 (see the backends for how a qube's
// rules become per-family lists).
func New(rules4, rules6 []ir.Rule, opts Options) *Evaluator {
	if opts.Linear {
		return newIndexed(rules4, rules6, opts, -1)
	}
	return newIndexed(rules4, rules6, opts, indexFrom)
}

// newIndexed is New, indexing the protocols that at least from rules may
// match, none if from is negative.
func newIndexed(rules4, rules6 []ir.Rule, opts Options, from int) *Evaluator {
	e := &Evaluator{}
	if opts.Semantics == Mirage {
		e.self, e.gatewayDNS = opts.Self, opts.GatewayDNS
	}
	e.fams[0] = prepare(rules4, 4, opts.DNS4, &opts)
	e.fams[1] = prepare(rules6, 6, opts.DNS6, &opts)
	if from >= 0 {
		e.fams[0].buildIndexes(4, from)
		e.fams[1].buildIndexes(6, from)
	}
	return e
}

func isQubesDNS(a netip.Addr) bool {
	return a == netip.AddrFrom4([4]byte{10, 139, 1, 1}) || a == netip.AddrFrom4([4]byte{10, 139, 1, 2})
}

// ProtoNumber returns the IP protocol number that p means in family: Qubes
// says icmp for ICMPv6 too.
func ProtoNumber(p ir.Proto, family int) uint8 {
	switch p {
	case ir.TCP:
		return ProtoTCP
	case ir.UDP:
		return ProtoUDP
	case ir.ICMP:
		if family == 6 {
			return ProtoICMPv6
		}
		return ProtoICMP
	}
	return 0
}

// NftablesICMPType returns the type that m's ICMP type stands for in
// family, as qfw's nftables backend reads it: itself in IPv4, for a rule
// to an IPv6 prefix and for one to a host name (as the Linux agent reads
// them all: dom0 writes a host name in both families' lists, and qfw's
// policy says such a type in both icmp and icmpv6); else, for a rule for
// both families, an ICMP type, so in IPv6 its ICMPv6 counterpart, or,
// without one, nothing.
func NftablesICMPType(m ir.Match, family int) (uint8, bool) {
	if family == 4 || m.Dst.Family() == 6 || m.Dst.Host != "" {
		return m.ICMPType, true
	}
	return ICMPv6For(m.ICMPType)
}

// ICMPv6For returns the ICMPv6 counterpart of ICMP type t, if it has one.
func ICMPv6For(t uint8) (uint8, bool) {
	switch t {
	case 0: // echo reply
		return 129, true
	case 3: // destination unreachable
		return 1, true
	case 8: // echo request
		return 128, true
	case 11: // time exceeded
		return 3, true
	case 12: // parameter problem
		return 4, true
	}
	return 0, false
}

func prepare(rules []ir.Rule, family int, dns []netip.Addr, opts *Options) familyRules {
	// Sorted, for matchAddrs.
	dns = slices.Clone(dns)
	slices.SortFunc(dns, netip.Addr.Compare)
	f := familyRules{rules: make([]rule, len(rules)), blocked: -1, mayBlock: -1, dns: dns, dnsUnknown: opts.DNSUnknown}
	for i, r := range rules {
		pr := rule{
			action: r.Action, prefix: r.Dst.Prefix, host: r.Dst.Host, dns: r.DNS,
			hasPorts: r.HasPorts, ports: r.Ports, hasType: r.HasICMPType, icmpType: r.ICMPType,
			proto: ProtoNumber(r.Proto, family),
		}
		pr.firstHeader = opts.Semantics == LinuxAgent && family == 6 && pr.proto != 0
		switch {
		case r.DNS && opts.Semantics == Mirage && r.Proto != ir.AnyProto:
			// The unikernel ignores the DNS target beside a protocol.
			pr.dns = false
		case r.DNS:
			pr.skip = DNSMatchesNothing(r.Match, opts.Semantics)
			pr.hasPorts, pr.ports = true, ir.PortRange{First: 53, Last: 53}
		}
		if r.HasICMPType && opts.Semantics == Nftables {
			t, ok := NftablesICMPType(r.Match, family)
			pr.icmpType, pr.skip = t, pr.skip || !ok
		}
		if pr.host != "" {
			var addrs []netip.Addr
			switch {
			case opts.Semantics == Nftables:
				addrs, pr.hostKnown = HostAddrs(opts.Resolver, pr.host, family, r.Action)
			case opts.Resolver != nil:
				addrs, pr.hostKnown = opts.Resolver.Resolve(pr.host, family)
			}
			pr.hostAddrs = slices.Clone(addrs)
			slices.SortFunc(pr.hostAddrs, netip.Addr.Compare)
			switch {
			case opts.Semantics == Mirage:
				// A name looked up per connection: without an address,
				// or in a release that cannot look names up, the rule
				// is skipped, and the list stands.
				pr.skip = pr.skip || opts.NoNames || pr.hostKnown && len(addrs) == 0
			case opts.Semantics == Nftables && r.Action == ir.Accept:
				// Without an address the rule allows nothing, and the
				// list stands: narrower, never wider. Whether an
				// unknown name matches is a maybe, but it blocks
				// nothing.
				pr.skip = pr.skip || pr.hostKnown && len(addrs) == 0
			case pr.hostKnown && len(addrs) == 0 && f.blocked < 0:
				f.blocked = i
			case !pr.hostKnown && f.mayBlock < 0:
				f.mayBlock = i
			}
		}
		f.rules[i] = pr
		for c := range numClasses {
			if pr.mayMatchClass(c) {
				f.byClass[c] = append(f.byClass[c], int32(i))
			}
		}
	}
	return f
}

// DNSMatchesNothing reports whether a DNS rule matches nothing. The agent
// forces port 53 and leaves out a DNS rule whose ports are not exactly 53,
// and emits invalid nft for proto=icmp, which blocks the client (not
// modelled: qfw never emits it); qfw's nftables backend matches port 53
// if the ports include it, and nothing for icmp.
func DNSMatchesNothing(m ir.Match, s Semantics) bool {
	if s == Nftables {
		return m.Proto == ir.ICMP || m.HasPorts && !m.Ports.Contains(53)
	}
	return m.HasPorts && m.Ports != ir.PortRange{First: 53, Last: 53}
}

// mayMatchClass reports whether r can match some packet of protocol class
// c.
func (r *rule) mayMatchClass(c int) bool {
	switch {
	case r.skip:
		return false
	case r.proto != 0:
		return class(r.proto) == c
	case r.dns:
		return c == classTCP || c == classUDP
	}
	return true
}

// Eval decides p: by the first rule of its family's list that matches it,
// walking the list in order. For a packet to a known address, New's index
// gives the same result with a search instead of a walk (see index.go).
func (e *Evaluator) Eval(p Packet) Result { return e.eval(p, true) }

// eval decides p, with the index if useIndex.
func (e *Evaluator) eval(p Packet, useIndex bool) Result {
	fam := p.IPFamily()
	var f *familyRules
	switch fam {
	case 4:
		f = &e.fams[0]
	case 6:
		f = &e.fams[1]
	default:
		return Result{Action: ir.Drop, Rule: -1, Blocked: -1, Possible: -1, MayBlock: -1}
	}
	if f.blocked >= 0 {
		return Result{Action: ir.Drop, Rule: -1, Blocked: f.blocked, Possible: -1, MayBlock: -1}
	}
	if e.self.IsValid() && p.Dst == e.self {
		// The unikernel's own address, which no rule decides.
		if e.gatewayDNS && p.Proto == ProtoUDP && p.Port == 53 {
			return Result{Action: ir.Accept, Rule: -1, Blocked: -1, Possible: -1, MayBlock: -1}
		}
		return Result{Action: ir.Drop, Rule: -1, Blocked: -1, Possible: -1, MayBlock: -1}
	}
	if useIndex && f.indexedAny {
		if res, ok := f.indexed(&p); ok {
			return res
		}
	}
	if f.dnsUnknown && rewritesDNS(&p) {
		// A query to the virtual DNS servers reaches the rules with the
		// upstream server's address, which is not known.
		p = Packet{Family: fam, Proto: p.Proto, Port: p.Port}
	}
	// The first rule that may match, for each action.
	maybeAccept, maybeDrop := -1, -1
	for _, i := range f.byClass[class(p.Proto)] {
		r := &f.rules[i]
		switch r.match(&p, f) {
		case no:
			continue
		case maybe:
			if r.action == ir.Accept && maybeAccept < 0 {
				maybeAccept = int(i)
			} else if r.action == ir.Drop && maybeDrop < 0 {
				maybeDrop = int(i)
			}
			continue
		}
		res := Result{Action: r.action, Rule: int(i), Blocked: -1, Possible: other(r.action, maybeAccept, maybeDrop), MayBlock: -1}
		if res.Action == ir.Accept {
			res.MayBlock = f.mayBlock
		}
		return res
	}
	return Result{Action: ir.Drop, Rule: -1, Blocked: -1, Possible: maybeAccept, MayBlock: -1}
}

// rewritesDNS reports whether p is a query to the virtual DNS servers,
// which a firewall qube without a netvm forwards upstream before its rules
// see it.
func rewritesDNS(p *Packet) bool {
	return p.Dst.IsValid() && p.Port == 53 && (p.Proto == ProtoTCP || p.Proto == ProtoUDP) && isQubesDNS(p.Dst)
}

func other(a ir.Action, maybeAccept, maybeDrop int) int {
	if a == ir.Accept {
		return maybeDrop
	}
	return maybeAccept
}
