package eval

import (
	"net/netip"
	"testing"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// withExtHeaders returns p carrying IPv6 extension headers.
func withExtHeaders(p Packet) Packet { p.ExtHeaders = true; return p }

// TestExtHeaders checks the reading of an IPv6 packet whose next-header
// field names an extension header: the stock agent's rules with a protocol
// (ip6 nexthdr P) miss it, whatever follows; rules without one, and DNS
// rules without one (meta l4proto), match it; qfw's nftables ruleset reads
// it as it reads the packet without the headers; IPv4 has none to read,
// and the field is ignored there.
func TestExtHeaders(t *testing.T) {
	dns := ir.Match{DNS: true}
	udpDNS := ir.Match{DNS: true, Proto: ir.UDP}
	web := to(pfx("2001:db8::/32"), tcp(443))
	icmp := ir.Match{Proto: ir.ICMP}
	denyWeb := []ir.Rule{drop(web), accept(ir.Match{})}
	allowWeb := []ir.Rule{accept(web)}
	dnsOpts := Options{DNS6: []netip.Addr{addr("2001:db8::53")}}
	for _, tc := range []struct {
		name   string
		rules  []ir.Rule
		opts   Options
		packet Packet
		agent  Result // LinuxAgent
		nft    Result // Nftables
	}{
		{"deny tcp evaded", denyWeb, Options{}, withExtHeaders(tcpTo("2001:db8::1", 443)),
			Result{ir.Accept, 1, -1, -1, -1}, Result{ir.Drop, 0, -1, -1, -1}},
		{"deny tcp without headers", denyWeb, Options{}, tcpTo("2001:db8::1", 443),
			Result{ir.Drop, 0, -1, -1, -1}, Result{ir.Drop, 0, -1, -1, -1}},
		{"allow tcp missed", allowWeb, Options{}, withExtHeaders(tcpTo("2001:db8::1", 443)),
			Result{ir.Drop, -1, -1, -1, -1}, Result{ir.Accept, 0, -1, -1, -1}},
		{"allow udp missed", []ir.Rule{accept(ir.Match{Proto: ir.UDP})}, Options{}, withExtHeaders(udpTo("2001:db8::1", 53)),
			Result{ir.Drop, -1, -1, -1, -1}, Result{ir.Accept, 0, -1, -1, -1}},
		{"allow icmp missed", []ir.Rule{accept(icmp)}, Options{}, withExtHeaders(icmpTo("2001:db8::1", 128)),
			Result{ir.Drop, -1, -1, -1, -1}, Result{ir.Accept, 0, -1, -1, -1}},
		{"destination only still matches", []ir.Rule{drop(to(pfx("2001:db8::/32"), ir.Match{})), accept(ir.Match{})}, Options{}, withExtHeaders(tcpTo("2001:db8::1", 443)),
			Result{ir.Drop, 0, -1, -1, -1}, Result{ir.Drop, 0, -1, -1, -1}},
		{"dns without proto still matches", []ir.Rule{accept(dns)}, dnsOpts, withExtHeaders(udpTo("2001:db8::53", 53)),
			Result{ir.Accept, 0, -1, -1, -1}, Result{ir.Accept, 0, -1, -1, -1}},
		{"dns with proto missed", []ir.Rule{accept(udpDNS)}, dnsOpts, withExtHeaders(udpTo("2001:db8::53", 53)),
			Result{ir.Drop, -1, -1, -1, -1}, Result{ir.Accept, 0, -1, -1, -1}},
		{"IPv4 tcp rule unaffected", []ir.Rule{accept(tcp(443))}, Options{}, withExtHeaders(tcpTo("192.0.2.1", 443)),
			Result{ir.Accept, 0, -1, -1, -1}, Result{ir.Accept, 0, -1, -1, -1}},
	} {
		for _, s := range []struct {
			sem  Semantics
			want Result
		}{{LinuxAgent, tc.agent}, {Nftables, tc.nft}} {
			opts := tc.opts
			opts.Semantics = s.sem
			e := New(ir.FamilyRules(tc.rules, 4, 0), ir.FamilyRules(tc.rules, 6, 0), opts)
			if got := e.Eval(tc.packet); got != s.want {
				t.Errorf("%s, semantics %d: Eval = %+v; want %+v", tc.name, s.sem, got, s.want)
			}
		}
	}
}
