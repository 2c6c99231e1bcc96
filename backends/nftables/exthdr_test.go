package nftables_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/qfw-dev/qfw/backends/nftables"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/internal/testnet"
)

// extHeader is an IPv6 extension header a probe carries before its TCP or
// UDP header, set as a sticky socket option: the kernel puts it in every
// packet the socket sends.
type extHeader struct {
	name   string
	option int // IPV6_HOPOPTS or IPV6_DSTOPTS; 0 for none
}

var extHeaders = []extHeader{
	{"no extension header", 0},
	{"hop-by-hop options", unix.IPV6_HOPOPTS},
	{"destination options", unix.IPV6_DSTOPTS},
}

// padOnly is an options header of 8 bytes holding nothing but a PadN
// option: next header (the kernel fills it in), length in 8-byte units
// beyond the first (0), then PadN (type 1) with 4 bytes of padding. Every
// router and host passes it on or accepts it as it is.
var padOnly = string([]byte{0, 0, 1, 4, 0, 0, 0, 0})

// extProbe sends, from the namespace it runs in, a TCP connection attempt
// or a UDP datagram (which the net namespace echoes) to dst:port carrying
// h, and says what became of it.
func extProbe(proto string, dst netip.Addr, port uint16, h extHeader) (testnet.Fate, error) {
	d := net.Dialer{Timeout: 1500 * time.Millisecond}
	if h.option != 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptString(int(fd), unix.IPPROTO_IPV6, h.option, padOnly)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	c, err := d.Dial(proto+"6", netip.AddrPortFrom(dst, port).String())
	if err == nil && proto == "udp" {
		if _, err = c.Write([]byte("qfw")); err == nil {
			c.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
			_, err = c.Read(make([]byte, 16))
		}
	}
	if c != nil {
		c.Close()
	}
	var ne net.Error
	switch {
	case err == nil:
		return testnet.Accepted, nil
	case errors.Is(err, syscall.EACCES):
		// ICMPv6 administratively prohibited: a reject.
		return testnet.Rejected, nil
	case errors.As(err, &ne) && ne.Timeout():
		return testnet.Dropped, nil
	}
	return 0, err
}

// stockRuleset writes the nft script the stock agent loads for one IPv6
// client with rules (its init() skeleton, the jump to the client's chain,
// and prepare_rules' lowering; qubes-firewall.md §9.2-§9.4), for rules
// with a destination prefix, a protocol and ports only.
func stockRuleset(t *testing.T, client netip.Addr, rules []ir.Rule) string {
	t.Helper()
	chain := "qbs-" + strings.NewReplacer(".", "-", ":", "-").Replace(client.String())
	var b strings.Builder
	fmt.Fprintf(&b, `table ip6 qubes-firewall {
	chain qubes-forward {
		ip6 saddr %s jump %s
	}
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		meta iifname != "vif*" accept
		jump qubes-forward
	}
	chain %s {
`, client, chain, chain)
	const reject = "reject with icmpv6 type admin-prohibited"
	for _, r := range rules {
		if r.DNS || r.Dst.Host != "" || r.HasICMPType || r.HasPorts && r.Proto == ir.AnyProto {
			t.Fatalf("stockRuleset: %+v: only prefixes, protocols and ports", r)
		}
		var frags []string
		if r.Proto != ir.AnyProto {
			frags = append(frags, "ip6 nexthdr "+r.Proto.String())
		}
		if r.Dst.Prefix.IsValid() {
			frags = append(frags, "ip6 daddr "+r.Dst.Prefix.String())
		}
		if r.HasPorts {
			ports := fmt.Sprint(r.Ports.First)
			if r.Ports.Last != r.Ports.First {
				ports += fmt.Sprintf("-%d", r.Ports.Last)
			}
			frags = append(frags, r.Proto.String()+" dport "+ports)
		}
		verdict := "accept"
		if r.Action == ir.Drop {
			verdict = reject
		}
		fmt.Fprintf(&b, "\t\t%s\n", strings.Join(append(frags, verdict), " "))
	}
	fmt.Fprintf(&b, "\t\t%s\n\t}\n}\n", reject)
	return b.String()
}

// TestExtHeadersOnRealPackets sends TCP connection attempts and UDP
// datagrams carrying a hop-by-hop or destination options header through
// qfw's table and through the stock agent's ruleset for the same list: the
// stock agent's rules with a protocol (ip6 nexthdr tcp) miss them, so they
// slip past its deny rules and miss its allow rules, and only a rule
// without a protocol decides them; qfw's table (meta l4proto, th dport)
// decides them as it decides the same packets without the header. Every
// probe's fate is written out below, and must be what the evaluator says
// under the semantics of each, and what the kernel does.
func TestExtHeadersOnRealPackets(t *testing.T) {
	pfx := func(s string) ir.Dst { return ir.Dst{Prefix: netip.MustParsePrefix(s)} }
	ports := func(p uint16) ir.PortRange { return ir.PortRange{First: p, Last: p} }
	rules := []ir.Rule{
		{Action: ir.Drop, Match: ir.Match{Dst: pfx("2001:db8::/48"), Proto: ir.TCP, HasPorts: true, Ports: ports(22)}},
		{Action: ir.Drop, Match: ir.Match{Dst: pfx("2001:db8::/48"), Proto: ir.UDP, HasPorts: true, Ports: ports(9)}},
		{Action: ir.Accept, Match: ir.Match{Dst: pfx("2001:db8::/48")}},
		{Action: ir.Accept, Match: ir.Match{Dst: pfx("2001:db8:3::/48"), Proto: ir.TCP, HasPorts: true, Ports: ports(443)}},
		{Action: ir.Accept, Match: ir.Match{Dst: pfx("2001:db8:3::/48"), Proto: ir.UDP, HasPorts: true, Ports: ir.PortRange{First: 5000, Last: 5999}}},
		{Action: ir.Drop, Match: ir.Match{Dst: pfx("2001:db8:4::/48")}},
		{Action: ir.Accept, Match: ir.Match{Dst: pfx("2001:db8:4::/48"), Proto: ir.TCP, HasPorts: true, Ports: ports(443)}},
	}
	client := nftables.Client{
		Name: "work", Addr4: netip.MustParseAddr("10.137.0.11"), Addr6: netip.MustParseAddr("fd09:24ef:4179::a89:b"),
		Rules6: rules,
	}
	const A, R = testnet.Accepted, testnet.Rejected
	probes := []struct {
		proto string
		dst   string
		port  uint16
		// Fates without an extension header, then with one: behind
		// qfw's table, then behind the stock agent's.
		plain, qfw, agent testnet.Fate
	}{
		{"tcp", "2001:db8::1", 22, R, R, A},    // a deny with a protocol, evaded
		{"udp", "2001:db8::1", 9, R, R, A},     // the same in UDP
		{"tcp", "2001:db8::1", 80, A, A, A},    // an allow without a protocol holds
		{"tcp", "2001:db8:3::1", 443, A, A, R}, // an allow with a protocol, missed
		{"udp", "2001:db8:3::1", 5353, A, A, R},
		{"tcp", "2001:db8:4::1", 443, R, R, R}, // a deny without a protocol holds
	}

	topo := testnet.New(t, []nftables.Client{client})
	c := topo.Clients["work"]
	for _, round := range []struct {
		name string
		sem  eval.Semantics
		load func()
	}{
		{"qfw", eval.Nftables, func() {
			table, blocked := nftables.Lower([]nftables.Client{client}, nftables.Options{})
			if blocked != nil {
				t.Fatalf("blocked: %+v", blocked)
			}
			topo.Apply(t, table)
		}},
		{"stock agent", eval.LinuxAgent, func() {
			topo.FW.Exec(t, nil, "nft", "flush", "ruleset")
			topo.FW.Exec(t, []byte(stockRuleset(t, client.Addr6, rules)), "nft", "-f", "-")
			topo.Forget(t)
		}},
	} {
		round.load()
		ev := eval.New(nil, rules, eval.Options{Semantics: round.sem})
		for _, p := range probes {
			dst := netip.MustParseAddr(p.dst)
			for _, h := range extHeaders {
				want := p.plain
				if h.option != 0 {
					want = map[bool]testnet.Fate{true: p.qfw, false: p.agent}[round.sem == eval.Nftables]
				}
				pkt := eval.Packet{Dst: dst, Proto: eval.ProtoTCP, Port: p.port, ExtHeaders: h.option != 0}
				if p.proto == "udp" {
					pkt.Proto = eval.ProtoUDP
				}
				evalFate := map[ir.Action]testnet.Fate{ir.Accept: A, ir.Drop: R}[ev.Eval(pkt).Action]
				if evalFate != want {
					t.Errorf("%s: %s %d to %s with %s: the evaluator says %v; want %v", round.name, p.proto, p.port, dst, h.name, evalFate, want)
				}
				var got testnet.Fate
				err := c.NS.Do(func() (err error) {
					got, err = extProbe(p.proto, dst, p.port, h)
					return err
				})
				if err != nil {
					t.Fatalf("%s: %s %d to %s with %s: %v", round.name, p.proto, p.port, dst, h.name, err)
				}
				if got != want {
					t.Errorf("%s: %s %d to %s with %s was %v; want %v", round.name, p.proto, p.port, dst, h.name, got, want)
				}
			}
		}
	}
}
