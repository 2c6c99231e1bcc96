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
