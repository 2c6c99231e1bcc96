package nftables

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"slices"
	"strconv"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/space"
)

// Client is a client of the firewall qube: its addresses, and its rule
// lists for each family as the firewall qube reads them.
type Client struct {
	Name           string
	Addr4, Addr6   netip.Addr
	Rules4, Rules6 []ir.Rule
}

// Options describe the firewall qube.
type Options struct {
	// DNS4 and DNS6 are the DNS servers that specialtarget=dns matches.
	DNS4, DNS6 []netip.Addr
	// Connected4 and Connected6 are the addresses of the qubes connected
	// to the firewall qube (QubesDB's /connected-ips and /connected-ips6):
	// packets from outside with one of them as source, or to one of them
	// that leave by another interface, are dropped as spoofed.
	Connected4, Connected6 []netip.Addr
	// Resolver resolves host names when the table is built; a name it
	// does not know is one that does not resolve. A drop rule takes a
	// name's last good addresses when it has none now, if the resolver
	// keeps them (see eval.HostAddrs).
	Resolver eval.Resolver
}

// Evaluator returns the reference evaluator that judges c's packets as the
// table Lower builds with o does.
func (o Options) Evaluator(c Client) *eval.Evaluator {
	return eval.New(c.Rules4, c.Rules6, eval.Options{Resolver: o.Resolver, DNS4: o.DNS4, DNS6: o.DNS6, Semantics: eval.Nftables})
}

// Clients returns the clients of the firewall qube fw in prog, with the
// lists dom0 writes for them at time now.
func Clients(prog *ir.Program, fw string, now int64) []Client {
	var out []Client
	for _, q := range prog.Qubes {
		if q.Netvm == fw {
			out = append(out, Client{
				Name: q.Name, Addr4: q.IP, Addr6: q.IP6,
				Rules4: ir.FamilyRules(q.Rules, 4, now),
				Rules6: ir.FamilyRules(q.Rules, 6, now),
			})
		}
	}
	return out
}

// DefaultOptions returns the options for firewall qube fw as Qubes sets it
// up: a firewall qube with a netvm of its own sees its clients' DNS queries
// to Qubes' virtual servers; one without (sys-net) forwards them to its
// upstream servers first, which are not known here, and gets none.
func DefaultOptions(fw ir.Firewall) Options {
	if fw.Netvm == "" {
		return Options{}
	}
	return Options{DNS4: eval.QubesDNS()}
}

// Blocked reports a rule of a client's list of one family whose host name
// has no address in that family. A drop rule's name makes the chain reject
// everything of the family: a deny that cannot be enforced fails closed.
// An accept rule's name (Skipped) makes that rule match nothing, and the
// rest of the chain stands.
type Blocked struct {
	Client string
	Family int
	Host   string
	// Rule is the index in the family's list of the rule that names Host.
	Rule int
	// Skipped says that the rule is an accept, left out of the chain;
	// the chain is not blocked.
	Skipped bool
}

// Lower builds qfw's table for the clients of one firewall qube, and
// reports the rules whose host names have no address. The table is the
// same for the same clients and options (and resolver answers), byte for
// byte once rendered.
func Lower(clients []Client, opts Options) (*Table, []Blocked) {
	maps := [2]*Set{
		{Name: "clients4", Family: 4, Kind: VerdictMap},
		{Name: "clients6", Family: 6, Kind: VerdictMap},
	}
	t := &Table{Sets: []*Set{
		{Name: "dns4", Family: 4, Kind: HostSet, Elements: hostElements(opts.DNS4)},
		{Name: "dns6", Family: 6, Kind: HostSet, Elements: hostElements(opts.DNS6)},
		maps[0], maps[1],
		{Name: "connected4", Family: 4, Kind: HostSet, Elements: hostElements(opts.Connected4)},
		{Name: "connected6", Family: 6, Kind: HostSet, Elements: hostElements(opts.Connected6)},
	}}
	t.Chains = baseChains()
	sorted := slices.Clone(clients)
	slices.SortFunc(sorted, func(a, b Client) int { return cmp.Compare(a.Name, b.Name) })
	var blocked []Blocked
	for _, c := range sorted {
		for i, fam := range []int{4, 6} {
			addr, rules := c.Addr4, c.Rules4
			if fam == 6 {
				addr, rules = c.Addr6, c.Rules6
			}
			if !addr.IsValid() {
				continue
			}
			l := lowering{client: c.Name, family: fam, opts: &opts}
			chain, sets, b := l.list(rules)
			blocked = append(blocked, b...)
			maps[i].Elements = append(maps[i].Elements, Element{First: addr, Last: addr, Jump: chain.Name})
			stamp(chain, sets)
			t.Chains = append(t.Chains, chain)
			t.Sets = append(t.Sets, sets...)
		}
	}
	// The client maps are each client's part: the forward chain's digest
	// covers the DNS sets only, so that updating one client leaves it true.
	stamp(t.Chains[0], t.Sets[:2])
	stamp(t.Chains[1], t.Sets[4:6])
	stamp(t.Chains[2], t.Sets[4:6])
	// The guard set goes last, so that its element is the last one the
	// kernel puts in force (see baseChains).
	guard := &Set{Name: guardName, Kind: GuardSet, Elements: []Element{{}}}
	t.Sets = append(t.Sets, guard)
	stamp(t.Chains[3], []*Set{guard})
	return t, blocked
}

// forwardHead returns the forward chain's first rules, which the lockdown
// table's has too: what passes without being judged by a client's list.
func forwardHead() []Rule {
	return []Rule{
		{Exprs: []Expr{ctEstablished{}, ctOriginal{}, accept{}}},
		{Exprs: []Expr{ctEstablished{}, l4Proto{eval.ProtoTCP}, accept{}}},
		{Exprs: []Expr{notFromClient{}, toClient, ctNew{}, tcpNoSyn{}, drop{}}},
		{Exprs: []Expr{notFromClient{}, accept{}}},
	}
}

// guardName is the name of the guard chain and of its set.
const guardName = "guard"

// baseChains returns the base chains of qfw's table and the guard chain,
// in the order Lower puts them first: forward, prerouting, postrouting,
// guard.
//
// The forward chain lets a known connection's packets through in the
// direction it started, and the other way only for TCP. A connection that
// started outside and goes to a client (a port forwarded to it) is thus
// judged, packet by packet from the client, by the client's list as if the
// client sent them to that peer, unless it is TCP: a UDP datagram or ICMP
// message from outside may be an answer that comes late to a flow a purge
// has ended, and must not open a way back out. A TCP connection from
// outside starts with a SYN, and a segment without one that conntrack
// would take up as a connection it missed (nf_conntrack_tcp_loose) is
// dropped, so a purged TCP connection cannot come back that way either.
// Then everything that does not come from a client passes, and the rest
// goes through the guard chain to its client's chain by its source address.
//
// The guard chain drops the clients' packets that reach it while a commit
// is under way. The kernel puts a commit in force in two steps: rules, and
// the elements of most sets, at once; the elements of sets with
// concatenated ranges (the port and ICMP sets, pipapo sets) only at the
// end of the commit, one set after the other, in the order the
// transaction first touched them. In between, a new port set is empty, and
// a rule that denies by it denies nothing, while a later rule that accepts
// by an address set already accepts: a packet that neither the old nor the
// new rules allow passes (TestApplyNeverOpens saw dozens in a few hundred
// thousand probes without the guard). The guard set is a pipapo set too,
// made anew by every change and filled last, so the guard drops what
// reaches it until every set of the commit is in force. Connections
// already open go on; a new one waits for its first packet to be sent
// again.
//
// The prerouting and postrouting chains drop, as the Linux agent's do,
// packets from outside that claim a client's address and packets to a
// client's address that leave by another interface (the sets connected4
// and connected6, the addresses in /connected-ips and /connected-ips6).
func baseChains() []*Chain {
	return []*Chain{
		{Name: "forward", Hook: Forward, Rules: append(forwardHead(),
			Rule{Exprs: []Expr{jump{guardName}}},
			Rule{Family: 4, Exprs: []Expr{sourceVmap{"clients4"}}},
			Rule{Family: 6, Exprs: []Expr{sourceVmap{"clients6"}}},
		)},
		{Name: "prerouting", Hook: Prerouting, Rules: []Rule{
			{Family: 4, Exprs: []Expr{notFromClient{}, srcIn{"connected4"}, drop{}}},
			{Family: 6, Exprs: []Expr{notFromClient{}, srcIn{"connected6"}, drop{}}},
		}},
		{Name: "postrouting", Hook: Postrouting, Rules: []Rule{
			{Family: 4, Exprs: []Expr{notToClient, dstIn{"connected4"}, drop{}}},
			{Family: 6, Exprs: []Expr{notToClient, dstIn{"connected6"}, drop{}}},
		}},
		{Name: guardName, Rules: []Rule{
			{Exprs: []Expr{guardMiss{guardName}, drop{}}},
		}},
	}
}

// stamp puts the digest of chain and its sets on its last rule.
func stamp(chain *Chain, sets []*Set) {
	var b bytes.Buffer
	chain.text(&b)
	for _, s := range sets {
		s.text(&b)
	}
	sum := sha256.Sum256(b.Bytes())
	chain.Rules[len(chain.Rules)-1].Comment = DigestPrefix + hex.EncodeToString(sum[:8])
}

// DigestPrefix starts the comment that holds a chain's digest.
const DigestPrefix = "qfw:"

// ChainName returns the name of the chain of client for family.
func ChainName(client string, family int) string {
	return "c" + strconv.Itoa(family) + "-" + client
}

func hostElements(addrs []netip.Addr) []Element {
	out := make([]Element, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, Element{First: a, Last: a})
	}
	slices.SortFunc(out, func(a, b Element) int { return a.First.Compare(b.First) })
	return slices.CompactFunc(out, func(a, b Element) bool { return a.First == b.First })
}

// lowering is the state of lowering one client's list of one family.
type lowering struct {
	client string
	family int
	opts   *Options
}

// step is a set of rules with one verdict, matched as one: their union,
// by what it takes to match it. It holds a run of consecutive rules, and
// later rules that may move up to it (see place).
type step struct {
	action ir.Action
	// all is set when a rule of the run matches every packet.
	all bool
	// addr, port and icmp are what the rules match in the sets of their
	// kind; space.Box.Proto is the IP protocol of a port box.
	addr, port, icmp []space.Box
	// dnsTCP and dnsUDP: the run matches the DNS servers on port 53.
	dnsTCP, dnsUDP bool
	// footprint is every packet the step's rules match, as boxes whose
	// Proto is 0 for every protocol; lo and hi bound its addresses.
	footprint []space.Box
	lo, hi    space.U128
}

// place finds the step that the rule with footprint fp and verdict action
// joins: the earliest step of that verdict that no later step of the
// other verdict overlaps the rule in. Moving the rule up to it changes
// nothing: first match only tells rules of different verdicts apart, and
// no packet the rule matches reaches a rule of the other verdict between.
// Lists whose rules of each verdict are mostly disjoint thus become a few
// steps, however they alternate. It returns -1 when the rule must start a
// step of its own at the end.
func place(steps []*step, action ir.Action, fp []space.Box) int {
	k := -1
	for j := len(steps) - 1; j >= 0; j-- {
		if steps[j].action == action {
			k = j
			continue
		}
		if steps[j].overlaps(fp) {
			break
		}
	}
	return k
}

// overlaps reports whether some packet matches both s and fp.
func (s *step) overlaps(fp []space.Box) bool {
	if s.all {
		return true
	}
	for _, b := range fp {
		if b.Hi.Less(s.lo) || s.hi.Less(b.Lo) {
			continue
		}
		for _, o := range s.footprint {
			if overlap(b, o) {
				return true
			}
		}
	}
	return false
}

// overlap reports whether footprint boxes a and b share a packet.
func overlap(a, b space.Box) bool {
	if a.Hi.Less(b.Lo) || b.Hi.Less(a.Lo) {
		return false
	}
	if a.Proto == 0 || b.Proto == 0 {
		return true
	}
	return a.Proto == b.Proto && a.PLo <= b.PHi && b.PLo <= a.PHi
}

// merge adds what step p matches to s.
func (s *step) merge(p *step) {
	s.all = s.all || p.all
	s.addr = append(s.addr, p.addr...)
	s.port = append(s.port, p.port...)
	s.icmp = append(s.icmp, p.icmp...)
	s.dnsTCP, s.dnsUDP = s.dnsTCP || p.dnsTCP, s.dnsUDP || p.dnsUDP
	for _, b := range p.footprint {
		if len(s.footprint) == 0 || b.Lo.Less(s.lo) {
			s.lo = b.Lo
		}
		if len(s.footprint) == 0 || s.hi.Less(b.Hi) {
			s.hi = b.Hi
		}
		s.footprint = append(s.footprint, b)
	}
}

// footprint returns every packet s matches, for place: the boxes of its
// sets, with any protocol as 0, and the DNS servers on port 53.
func (l *lowering) footprint(s *step) []space.Box {
	fp := append([]space.Box(nil), s.port...)
	for _, b := range s.addr {
		b.Proto, b.PLo, b.PHi = 0, 0, 65535
		fp = append(fp, b)
	}
	icmp := eval.ProtoNumber(ir.ICMP, l.family)
	for _, b := range s.icmp {
		b.Proto = icmp
		fp = append(fp, b)
	}
	for _, a := range l.dnsServers() {
		v := space.FromAddr(a)
		for _, proto := range dnsProtos(s.dnsTCP, s.dnsUDP) {
			fp = append(fp, space.Box{Proto: proto, Lo: v, Hi: v, PLo: 53, PHi: 53})
		}
	}
	return fp
}

// list lowers one list into the client's chain and its sets, and reports
// the rules to names without an address.
func (l *lowering) list(rules []ir.Rule) (*Chain, []*Set, []Blocked) {
	chain := &Chain{Name: ChainName(l.client, l.family)}
	var steps []*step
	var blocked []Blocked
	for i, r := range rules {
		one := &step{action: r.Action}
		if host, ok := l.add(one, r); !ok {
			b := Blocked{Client: l.client, Family: l.family, Host: host, Rule: i, Skipped: r.Action == ir.Accept}
			blocked = append(blocked, b)
			if b.Skipped {
				// An accept that matches nothing: narrower, and the
				// other rules keep their meaning.
				continue
			}
			// Fail closed: a deny whose addresses are not known
			// leaves a chain that rejects everything, as the Linux
			// agent does for any name that does not resolve.
			chain.Rules = []Rule{{Family: l.family, Exprs: []Expr{reject{}}}}
			return chain, nil, blocked
		}
		one.footprint = l.footprint(one)
		k := place(steps, r.Action, one.footprint)
		if k < 0 {
			steps = append(steps, &step{action: r.Action})
			k = len(steps) - 1
		}
		steps[k].merge(one)
	}
	var sets []*Set
	for i, s := range steps {
		var verdict Expr = accept{}
		if s.action == ir.Drop {
			verdict = reject{}
		}
		if s.all {
			// Nothing after this rule is reached.
			chain.Rules = append(chain.Rules, Rule{Family: l.family, Exprs: []Expr{verdict}})
			return chain, sets, blocked
		}
		prefix := chain.Name + "-" + strconv.Itoa(i) + "-"
		for _, k := range []struct {
			boxes []space.Box
			kind  SetKind
			match func(string) Expr
			name  string
		}{
			{s.addr, AddrSet, func(n string) Expr { return dstIn{n} }, "a"},
			{s.port, PortSet, func(n string) Expr { return portIn{n} }, "p"},
			{s.icmp, ICMPSet, func(n string) Expr { return icmpIn{n} }, "i"},
		} {
			if len(k.boxes) == 0 {
				continue
			}
			set := &Set{Name: prefix + k.name, Family: l.family, Kind: k.kind, Elements: l.elements(k.boxes)}
			sets = append(sets, set)
			chain.Rules = append(chain.Rules, Rule{Family: l.family, Exprs: []Expr{k.match(set.Name), verdict}})
		}
		dnsSet := "dns" + strconv.Itoa(l.family)
		for _, proto := range dnsProtos(s.dnsTCP, s.dnsUDP) {
			chain.Rules = append(chain.Rules, Rule{Family: l.family, Exprs: []Expr{dstIn{dnsSet}, l4Port{proto, 53}, verdict}})
		}
	}
	chain.Rules = append(chain.Rules, Rule{Family: l.family, Exprs: []Expr{reject{}}})
	return chain, sets, blocked
}

// elements turns boxes into the disjoint, sorted elements that an
// interval set takes.
func (l *lowering) elements(boxes []space.Box) []Element {
	disjoint := space.Disjoint(boxes)
	slices.SortFunc(disjoint, func(a, b space.Box) int {
		switch {
		case a.Lo != b.Lo:
			if a.Lo.Less(b.Lo) {
				return -1
			}
			return 1
		case a.Proto != b.Proto:
			return cmp.Compare(a.Proto, b.Proto)
		}
		return cmp.Compare(a.PLo, b.PLo)
	})
	out := make([]Element, len(disjoint))
	for i, b := range disjoint {
		out[i] = Element{First: b.Lo.Addr(l.family == 4), Last: b.Hi.Addr(l.family == 4), Proto: b.Proto, Low: b.PLo, High: b.PHi}
	}
	return out
}

// add adds r to s. It reports false, with the name, when r names a host
// that has no address in the family (for a drop rule, none now and none
// before: see eval.HostAddrs), and then leaves s as it was.
func (l *lowering) add(s *step, r ir.Rule) (string, bool) {
	m := r.Match
	if m.DNS {
		return l.addDNS(s, m, r.Action)
	}
	var ranges [][2]space.U128
	switch {
	case m.Dst.Host != "":
		addrs, _ := eval.HostAddrs(l.opts.Resolver, m.Dst.Host, l.family, r.Action)
		if len(addrs) == 0 {
			return m.Dst.Host, false
		}
		for _, a := range addrs {
			v := space.FromAddr(a)
			ranges = append(ranges, [2]space.U128{v, v})
		}
	case m.Dst.Prefix.IsValid():
		lo, hi := space.PrefixRange(m.Dst.Prefix)
		ranges = [][2]space.U128{{lo, hi}}
	default:
		ranges = [][2]space.U128{{{}, l.max()}}
	}
	box := func(proto uint8, low, high uint16, rg [2]space.U128) space.Box {
		return space.Box{Proto: proto, Lo: rg[0], Hi: rg[1], PLo: low, PHi: high}
	}
	for _, rg := range ranges {
		switch m.Proto {
		case ir.AnyProto:
			if rg == [2]space.U128{{}, l.max()} {
				s.all = true
			}
			s.addr = append(s.addr, box(0, 0, 0, rg))
		case ir.TCP, ir.UDP:
			proto := eval.ProtoNumber(m.Proto, l.family)
			low, high := uint16(0), uint16(65535)
			if m.HasPorts {
				low, high = m.Ports.First, m.Ports.Last
			}
			s.port = append(s.port, box(proto, low, high, rg))
		case ir.ICMP:
			low, high := uint16(0), uint16(255)
			if m.HasICMPType {
				t, ok := eval.NftablesICMPType(m, l.family)
				if !ok {
					continue
				}
				low, high = uint16(t), uint16(t)
			}
			s.icmp = append(s.icmp, box(0, low, high, rg))
		}
	}
	return "", true
}

// addDNS adds a DNS rule: port 53 over tcp and udp, or the one protocol it
// names, to the DNS servers; or to those of them in its destination. Like
// add, it reports false with the name when its destination is a name that
// has no address in the family.
func (l *lowering) addDNS(s *step, m ir.Match, action ir.Action) (string, bool) {
	var hostAddrs []netip.Addr
	if m.Dst.Host != "" {
		hostAddrs, _ = eval.HostAddrs(l.opts.Resolver, m.Dst.Host, l.family, action)
		if len(hostAddrs) == 0 {
			return m.Dst.Host, false
		}
	}
	if eval.DNSMatchesNothing(m, eval.Nftables) {
		return "", true
	}
	tcp, udp := m.Proto != ir.UDP, m.Proto != ir.TCP
	if m.Dst.IsAny() {
		s.dnsTCP = s.dnsTCP || tcp
		s.dnsUDP = s.dnsUDP || udp
		return "", true
	}
	// DNS and a destination: the DNS servers in the destination.
	for _, a := range l.dnsServers() {
		if !m.Dst.Prefix.Contains(a) && !slices.Contains(hostAddrs, a) {
			continue
		}
		v := space.FromAddr(a)
		for _, proto := range dnsProtos(tcp, udp) {
			s.port = append(s.port, space.Box{Proto: proto, Lo: v, Hi: v, PLo: 53, PHi: 53})
		}
	}
	return "", true
}

// dnsServers returns the DNS servers of the lowering's family.
func (l *lowering) dnsServers() []netip.Addr {
	if l.family == 6 {
		return l.opts.DNS6
	}
	return l.opts.DNS4
}

// max returns the last address of the family.
func (l *lowering) max() space.U128 {
	if l.family == 4 {
		return space.Max32
	}
	return space.Max128
}

// dnsProtos returns the protocols a DNS rule covers: TCP, UDP or both.
func dnsProtos(tcp, udp bool) []uint8 {
	var out []uint8
	if tcp {
		out = append(out, eval.ProtoTCP)
	}
	if udp {
		out = append(out, eval.ProtoUDP)
	}
	return out
}
