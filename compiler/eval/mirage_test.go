package eval

import (
	"testing"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// The unikernel's reading of an IPv4 list, row by row of what differs from
// the Linux agent. (Which rules it reads at all, the IPv4 list up to the
// first gap and no IPv6 list, is backends/mirage's and policytest's.)
func TestEvalMirage(t *testing.T) {
	dnsUDP := ir.Match{DNS: true, Proto: ir.UDP, HasPorts: true, Ports: ir.PortRange{First: 53, Last: 53}}
	for _, tt := range []struct {
		name    string
		rules   []ir.Rule
		noNames bool
		packet  Packet
		want    Result
	}{
		{"dns without proto: the DNS servers, port 53",
			[]ir.Rule{accept(ir.Match{DNS: true})}, false, udpTo("10.139.1.1", 53), Result{ir.Accept, 0, -1, -1, -1}},
		{"dns without proto: not another address",
			[]ir.Rule{accept(ir.Match{DNS: true})}, false, udpTo("192.0.2.1", 53), Result{ir.Drop, -1, -1, -1, -1}},
		{"dns with proto: that protocol and port to every address",
			[]ir.Rule{accept(dnsUDP)}, false, udpTo("192.0.2.1", 53), Result{ir.Accept, 0, -1, -1, -1}},
		{"dns with proto: not another port",
			[]ir.Rule{accept(dnsUDP)}, false, udpTo("192.0.2.1", 54), Result{ir.Drop, -1, -1, -1, -1}},
		{"a name without an address skips its rule, not the list",
			[]ir.Rule{drop(to(host("nowhere.test"), ir.Match{})), accept(ir.Match{})}, false, tcpTo("192.0.2.1", 80), Result{ir.Accept, 1, -1, -1, -1}},
		{"a name with an address matches it",
			[]ir.Rule{drop(to(host("example.org"), ir.Match{})), accept(ir.Match{})}, false, tcpTo("192.0.2.10", 80), Result{ir.Drop, 0, -1, -1, -1}},
		{"an unknown name may match, and blocks nothing",
			[]ir.Rule{drop(to(host("unknown.test"), ir.Match{})), accept(ir.Match{})}, false, tcpTo("192.0.2.1", 80), Result{ir.Accept, 1, -1, 0, -1}},
		{"a release that cannot resolve names skips every name rule",
			[]ir.Rule{drop(to(host("example.org"), ir.Match{})), accept(ir.Match{})}, true, tcpTo("192.0.2.10", 80), Result{ir.Accept, 1, -1, -1, -1}},
		{"an accept by name on such a release accepts nothing",
			[]ir.Rule{accept(to(host("example.org"), tcp(443)))}, true, tcpTo("192.0.2.10", 443), Result{ir.Drop, -1, -1, -1, -1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := New(tt.rules, nil, Options{Resolver: resolver, DNS4: QubesDNS(), Semantics: Mirage, NoNames: tt.noNames})
			if got := e.Eval(tt.packet); got != tt.want {
				t.Errorf("Eval(%+v) = %+v; want %+v", tt.packet, got, tt.want)
			}
		})
	}
}

// The unikernel's own address is decided before the rules: dropped, but
// for DNS over UDP on releases that send it on to the netvm.
func TestEvalMirageSelf(t *testing.T) {
	self := addr("10.137.0.9")
	rules := []ir.Rule{accept(ir.Match{})}
	for _, tt := range []struct {
		gatewayDNS bool
		packet     Packet
		want       ir.Action
	}{
		{false, icmpTo("10.137.0.9", 8), ir.Drop},
		{false, udpTo("10.137.0.9", 53), ir.Drop},
		{true, udpTo("10.137.0.9", 53), ir.Accept},
		{true, tcpTo("10.137.0.9", 53), ir.Drop},
		{false, tcpTo("10.137.0.10", 53), ir.Accept},
	} {
		e := New(rules, nil, Options{Semantics: Mirage, Self: self, GatewayDNS: tt.gatewayDNS})
		if got := e.Eval(tt.packet); got.Action != tt.want || got.Rule != -1 && tt.packet.Dst == self {
			t.Errorf("gatewayDNS=%v: Eval(%+v) = %+v; want %s by no rule", tt.gatewayDNS, tt.packet, got, tt.want)
		}
	}
	// Other semantics know nothing of it.
	if got := New(rules, nil, Options{Self: self}).Eval(icmpTo("10.137.0.9", 8)); got.Action != ir.Accept {
		t.Errorf("Linux agent: Eval = %+v; want accept", got)
	}
}
