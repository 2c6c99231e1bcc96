package qubes_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cuelang.org/go/cue/token"

	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/compiler"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/policy"
)

// TestNeverWiden checks the whole lowering of random policy rules against
// what the rules say. Each rule is compiled, formatted as Admin API lines,
// parsed back as dom0 would, split into the QubesDB lists of each family,
// and parsed back once more as the firewall qube reads them. Random packets
// are then matched against the policy rule directly and against the
// lowered list: the lowered list must match exactly the packets the policy
// rule matches; in particular never one more.
func TestNeverWiden(t *testing.T) {
	const seed = 20261125
	rnd := rand.New(rand.NewPCG(seed, 1))
	compiled := 0
	for i := range 3000 {
		r := randomPolicyRule(rnd)
		lowered, ok := lower(t, r)
		if !ok {
			continue
		}
		compiled++
		for range 200 {
			p := randomPacket(rnd, r)
			want := sourceMatches(r, p)
			got := loweredMatches(lowered[p.family], p)
			if got != want {
				t.Fatalf("seed %d, rule %d: %+v\npacket %v: lowered list matches = %v, policy rule matches = %v\nlowered: %v",
					seed, i, r, p, got, want, lowered[p.family])
			}
		}
	}
	// Most random rules are valid; if few compile, the test tests little.
	if compiled < 2000 {
		t.Fatalf("only %d of 3000 random rules compiled", compiled)
	}
}

// TestLoweringExact checks whole lists: random policies of several rules
// with random priorities are compiled and lowered as in TestNeverWiden,
// and every random packet must get the same verdict from the lowered
// per-family list, first match wins, as from the policy's rules in the
// order the language defines: priority, then deny before allow, then name.
func TestLoweringExact(t *testing.T) {
	const seed = 20261126
	rnd := rand.New(rand.NewPCG(seed, 2))
	compiled := 0
	for i := range 4000 {
		rules := make([]policy.Rule, 2+rnd.IntN(5))
		for j := range rules {
			rules[j] = randomPolicyRule(rnd)
			rules[j].Name = fmt.Sprintf("r%d", j)
			rules[j].Priority = 100 + rnd.IntN(3)
		}
		lowered, ok := lowerList(t, rules)
		if !ok {
			continue
		}
		compiled++
		order := slices.Clone(rules)
		slices.SortStableFunc(order, func(a, b policy.Rule) int {
			if a.Priority != b.Priority {
				return a.Priority - b.Priority
			}
			if a.Deny != b.Deny {
				if a.Deny {
					return -1
				}
				return 1
			}
			return strings.Compare(a.Name, b.Name)
		})
		for range 200 {
			p := randomPacket(rnd, order[rnd.IntN(len(order))])
			want := "drop"
			for _, r := range order {
				if sourceMatches(r, p) {
					want = map[bool]string{true: "drop", false: "accept"}[r.Deny]
					break
				}
			}
			got := "drop"
			for _, r := range lowered[p.family] {
				if ruleMatches(r.Match, p) {
					got = r.Action.String()
					break
				}
			}
			if got != want {
				t.Fatalf("seed %d, list %d: %+v\npacket %v: lowered list says %s, policy says %s\nlowered: %v",
					seed, i, order, p, got, want, lowered[p.family])
			}
		}
	}
	// Many random lists hold a rule that never takes effect, which the
	// compiler refuses; enough remain.
	if compiled < 1000 {
		t.Fatalf("only %d of 4000 random lists compiled", compiled)
	}
}

var (
	qubeIP  = netip.MustParseAddr("10.137.0.11")
	qubeIP6 = netip.MustParseAddr("fd09:24ef:4179::a89:b")
	hosts   = []string{"example.org", "github.com", "a.b.example"}
	pos     = token.NewFile("policy.cue", -1, 1000).Pos(0, token.NoRelPos)
)

// lower compiles r as the only rule of a qube and returns, per family, the
// rules as the firewall qube reads them from QubesDB.
func lower(t *testing.T, r policy.Rule) (map[int][]ir.Rule, bool) {
	return lowerList(t, []policy.Rule{r})
}

// lowerList compiles rules as the rules of one qube and returns, per
// family, the rules as the firewall qube reads them from QubesDB.
func lowerList(t *testing.T, rules []policy.Rule) (map[int][]ir.Rule, bool) {
	inv := &policy.Inventory{Path: "inventory.json", Qubes: map[string]*policy.InventoryQube{
		"work":         {Name: "work", IP: qubeIP, IP6: qubeIP6, Netvm: "sys-firewall"},
		"sys-firewall": {Name: "sys-firewall", ProvidesNetwork: true},
	}}
	p := &policy.Policy{Inventory: inv, Qubes: []policy.Qube{{Name: "work", Pos: pos, Rules: rules}}}
	res, err := compiler.Compile(p, compiler.Options{Now: time.Unix(1e9, 0)})
	if err != nil {
		return nil, false
	}
	q := res.Program.Qubes[0]
	var api []ir.Rule
	for _, cr := range q.Rules {
		pr, err := qubes.ParseRule(qubes.FormatRule(cr))
		if err != nil {
			t.Fatalf("compiled rule does not parse back: %v", err)
		}
		api = append(api, pr)
	}
	out := map[int][]ir.Rule{}
	for fam, ip := range map[int]netip.Addr{4: qubeIP, 6: qubeIP6} {
		for _, e := range qubes.Entries(ip, api, 1e9) {
			if e.Op != qubes.Write || e.Value == "" || e.Value == "drop" {
				continue
			}
			qr, err := qubes.ParseRule(e.Value)
			if err != nil {
				t.Fatalf("QubesDB rule %q does not parse: %v", e.Value, err)
			}
			out[fam] = append(out[fam], qr)
		}
	}
	return out, true
}

// packet is what a rule can see of a new connection: the family and
// destination address, whether that address is one of the qube's DNS
// servers, the name (if any) the firewall qube resolved to it, the
// protocol and the port or ICMP type. Its "icmp" is ICMP in IPv4 and
// ICMPv6 in IPv6; a lowered rule compares the type as a number in both,
// as the Linux agent does.
type packet struct {
	family int
	dst    netip.Addr
	dns    bool
	host   string
	proto  string // tcp, udp, icmp, or gre for any other protocol
	port   int    // port or ICMP type
}

// sourceMatches is the meaning of a policy rule, written from the language
// reference without any of the compiler's code.
func sourceMatches(r policy.Rule, p packet) bool {
	if r.DNS {
		if !p.dns || (p.proto != "tcp" && p.proto != "udp") || p.port != 53 {
			return false
		}
	} else {
		hit := false
		for _, d := range r.To {
			switch {
			case d.S == "any":
				hit = true
			case d.S == p.host:
				hit = true
			default:
				if pr, err := netip.ParsePrefix(d.S); err == nil && pr.Contains(p.dst) {
					hit = true
				} else if a, err := netip.ParseAddr(d.S); err == nil && a == p.dst {
					hit = true
				}
			}
		}
		if !hit {
			return false
		}
	}
	if !r.HasService {
		return true
	}
	for _, s := range r.Services {
		switch p.proto {
		case "tcp":
			if portsContain(s.TCP, p.port) {
				return true
			}
		case "udp":
			if portsContain(s.UDP, p.port) {
				return true
			}
		case "icmp":
			// icmp: true is every ICMP type in IPv4 and every ICMPv6 type
			// in IPv6; a list of ICMP types is IPv4 only, icmpv6 IPv6 only.
			if s.ICMP && s.ICMPTypes == nil {
				return true
			}
			types := s.ICMPTypes
			if p.family == 6 {
				types = s.ICMPv6Types
			}
			for _, ty := range types {
				if int(ty.N) == p.port {
					return true
				}
			}
		}
	}
	return false
}

func portsContain(list []policy.String, port int) bool {
	for _, s := range list {
		var lo, hi int
		if n, err := fmt.Sscanf(s.S, "%d-%d", &lo, &hi); n != 2 || err != nil {
			lo, _ = strconv.Atoi(s.S)
			hi = lo
		}
		if lo <= port && port <= hi {
			return true
		}
	}
	return false
}

// loweredMatches is first-match over the rules a firewall qube reads,
// with the Linux agent's semantics; every rule here has the same verdict,
// so it reports whether any rule matches.
func loweredMatches(rules []ir.Rule, p packet) bool {
	for _, r := range rules {
		if ruleMatches(r.Match, p) {
			return true
		}
	}
	return false
}

func ruleMatches(m ir.Match, p packet) bool {
	switch {
	case m.Dst.Host != "" && m.Dst.Host != p.host:
		return false
	case m.Dst.Prefix.IsValid() && !m.Dst.Prefix.Contains(p.dst):
		return false
	}
	if m.DNS && (!p.dns || p.port != 53 || (p.proto != "tcp" && p.proto != "udp")) {
		return false
	}
	if m.Proto != ir.AnyProto && m.Proto.String() != p.proto {
		return false
	}
	if m.HasPorts && !m.Ports.Contains(uint16(p.port)) {
		return false
	}
	if m.HasICMPType && int(m.ICMPType) != p.port {
		return false
	}
	return true
}

var addrPool = []string{
	"192.0.2.0/24", "192.0.2.128/25", "192.0.2.7", "198.51.100.0/22", "10.0.0.0/8",
	"0.0.0.0/0", "2001:db8::/32", "2001:db8:1::/48", "2001:db8::7", "::/0", "fd00::/8",
}

func randomPolicyRule(rnd *rand.Rand) policy.Rule {
	r := policy.Rule{Name: "r", Pos: pos, Priority: policy.DefaultPriority, Deny: rnd.IntN(2) == 0}
	switch rnd.IntN(10) {
	case 0:
		r.DNS = true
	case 1:
		r.HasTo, r.To = true, []policy.String{{S: "any", Pos: pos}}
	default:
		r.HasTo = true
		for range 1 + rnd.IntN(4) {
			s := addrPool[rnd.IntN(len(addrPool))]
			if rnd.IntN(4) == 0 {
				s = hosts[rnd.IntN(len(hosts))]
			}
			r.To = append(r.To, policy.String{S: s, Pos: pos})
		}
	}
	for range rnd.IntN(3) {
		var s policy.Service
		for range rnd.IntN(3) {
			s.TCP = append(s.TCP, policy.String{S: randomPorts(rnd, r.DNS), Pos: pos})
		}
		for range rnd.IntN(3) {
			s.UDP = append(s.UDP, policy.String{S: randomPorts(rnd, r.DNS), Pos: pos})
		}
		if !r.DNS && rnd.IntN(3) == 0 {
			s.ICMP = true
			for range rnd.IntN(3) {
				s.ICMPTypes = append(s.ICMPTypes, policy.Int{N: int64(rnd.IntN(20)), Pos: pos})
			}
		}
		if !r.DNS && rnd.IntN(4) == 0 {
			for range 1 + rnd.IntN(2) {
				s.ICMPv6Types = append(s.ICMPv6Types, policy.Int{N: int64(rnd.IntN(20)), Pos: pos})
			}
		}
		if s.TCP == nil && s.UDP == nil && !s.ICMP && s.ICMPv6Types == nil {
			s.TCP = []policy.String{{S: "443", Pos: pos}}
		}
		r.Services = append(r.Services, s)
	}
	// Now and then an empty service list, which must match nothing.
	r.HasService = len(r.Services) > 0 || rnd.IntN(20) == 0
	return r
}

func randomPorts(rnd *rand.Rand, dns bool) string {
	if dns {
		return "53"
	}
	lo := rnd.IntN(100)
	if rnd.IntN(2) == 0 {
		return strconv.Itoa(lo)
	}
	return fmt.Sprintf("%d-%d", lo, lo+rnd.IntN(50))
}

var packetAddrs = []string{
	"192.0.2.7", "192.0.2.200", "198.51.100.1", "198.51.103.255", "10.1.2.3", "203.0.113.9",
	"2001:db8::7", "2001:db8:1::1", "2001:db9::1", "fd00::1", "2001:db8:2::3",
}

// randomPacket makes a packet likely to sit on the edges of r.
func randomPacket(rnd *rand.Rand, r policy.Rule) packet {
	a := netip.MustParseAddr(packetAddrs[rnd.IntN(len(packetAddrs))])
	p := packet{dst: a, family: 4, proto: []string{"tcp", "udp", "icmp", "gre"}[rnd.IntN(4)]}
	if a.Is6() {
		p.family = 6
	}
	switch rnd.IntN(4) {
	case 0:
		p.dns = true
	case 1:
		p.host = hosts[rnd.IntN(len(hosts))]
	}
	switch p.proto {
	case "tcp", "udp":
		p.port = []int{53, rnd.IntN(160), rnd.IntN(65536)}[rnd.IntN(3)]
	case "icmp":
		p.port = rnd.IntN(24)
	}
	return p
}

func (p packet) String() string {
	s := fmt.Sprintf("%s %d to %s", p.proto, p.port, p.dst)
	if p.host != "" {
		s += " (resolved from " + p.host + ")"
	}
	if p.dns {
		s += " (a DNS server)"
	}
	return s
}
