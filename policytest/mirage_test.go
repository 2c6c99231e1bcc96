package policytest

import (
	"net/netip"
	"testing"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
)

// A qube behind the unikernel is judged by the lists it reads: the IPv4
// rules up to the first gap in dom0's numbering, none when it cannot parse
// one of them, and nothing in IPv6.
func TestEnforcersMirage(t *testing.T) {
	acceptAll := ir.Rule{Action: ir.Accept}
	v6First := ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: pfx("2001:db8::/32")}}
	badName := ir.Rule{Action: ir.Drop, Match: ir.Match{Dst: ir.Dst{Host: "under_score.example"}}}
	v4 := eval.Packet{Dst: netip.MustParseAddr("192.0.2.1"), Proto: eval.ProtoTCP, Port: 443}
	v6 := eval.Packet{Dst: netip.MustParseAddr("2001:db8::1"), Proto: eval.ProtoTCP, Port: 443}
	for _, tt := range []struct {
		name    string
		version string
		rules   []ir.Rule
		packet  eval.Packet
		want    ir.Action
	}{
		{"IPv4 read", "0.9.5", []ir.Rule{acceptAll}, v4, ir.Accept},
		{"no IPv6, whatever the rules", "0.9.5", []ir.Rule{acceptAll}, v6, ir.Drop},
		{"an IPv6 rule first leaves a gap: nothing read", "0.9.5", []ir.Rule{v6First, acceptAll}, v4, ir.Drop},
		{"a rule it cannot parse: drop all", "0.9.5", []ir.Rule{badName, acceptAll}, v4, ir.Drop},
		{"an unknown release reads nothing", "9.9", []ir.Rule{acceptAll}, v4, ir.Drop},
		{"no netvm: nothing passes", "", []ir.Rule{acceptAll}, v4, ir.Drop},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := program(true, tt.rules)
			p.Firewalls[0].Backend, p.Firewalls[0].MirageVersion, p.Firewalls[0].Netvm = ir.Mirage, tt.version, "sys-net"
			if tt.version == "" {
				p.Firewalls[0].MirageVersion, p.Firewalls[0].Netvm = "0.9.5", ""
			}
			es := Enforcers(p, &p.Qubes[0], nil, 0, nil)
			if len(es) != 1 || es[0].Backend != ir.Mirage {
				t.Fatalf("Enforcers = %+v; want the unikernel", es)
			}
			if got := es[0].Eval(tt.packet).Action; got != tt.want {
				t.Errorf("Eval(%+v) = %s; want %s", tt.packet, got, tt.want)
			}
		})
	}
}

// Release by release, a rule to a host name works where the release can
// resolve names, and matches nothing where it cannot (0.8.2 and 0.9.0).
func TestEnforcersMirageReleases(t *testing.T) {
	rules := []ir.Rule{{Action: ir.Accept, Match: ir.Match{Dst: ir.Dst{Host: "example.org"}}}}
	pkt := eval.Packet{Dst: netip.MustParseAddr("192.0.2.10"), Proto: eval.ProtoTCP, Port: 443}
	broken := map[string]bool{"0.8.2": true, "0.9.0": true}
	for _, rel := range mirage.Releases() {
		p := program(false, rules)
		p.Firewalls[0].Backend, p.Firewalls[0].MirageVersion, p.Firewalls[0].Netvm = ir.Mirage, rel.Version, "sys-net"
		es := Enforcers(p, &p.Qubes[0], eval.Table(p.Resolve), 0, nil)
		want := ir.Accept
		if broken[rel.Version] {
			want = ir.Drop
		}
		if got := es[0].Eval(pkt).Action; got != want {
			t.Errorf("%s: an accept by name gives %s; want %s", rel.Version, got, want)
		}
	}
}

// A test that spans the unikernel's own address tries it: a drop of
// everything fails where an old release sends DNS on, and an accept of a
// whole network fails at the firewall's address.
func TestRunMirageSelf(t *testing.T) {
	all := []ir.Proto{ir.TCP, ir.UDP, ir.ICMP}
	for _, tt := range []struct {
		version string
		rule    ir.Rule
		test    ir.Test
		passed  bool
	}{
		{"0.8.0", ir.Rule{Action: ir.Drop}, ir.Test{Protos: all, Expect: ir.Drop}, false},
		{"0.9.5", ir.Rule{Action: ir.Drop}, ir.Test{Protos: all, Expect: ir.Drop}, true},
		{"0.9.5", ir.Rule{Action: ir.Accept, Match: tcpPorts(443, 443)},
			ir.Test{To: pfx("10.137.0.0/24"), Protos: []ir.Proto{ir.TCP}, HasPort: true, Port: 443, Expect: ir.Accept}, false},
	} {
		p := program(false, []ir.Rule{tt.rule}, tt.test)
		p.Firewalls[0].Backend, p.Firewalls[0].MirageVersion, p.Firewalls[0].Netvm = ir.Mirage, tt.version, "sys-net"
		p.Firewalls[0].IP = netip.MustParseAddr("10.137.0.9")
		out := Run(p, 0, nil)
		if len(out) != 1 || out[0].Passed != tt.passed {
			t.Errorf("%s, %s: %+v; want passed=%v", tt.version, tt.rule.Action, out, tt.passed)
		}
	}
}

// Run reads the lowering it is given for a qube, and lowers the
// list of a qube it is given none for.
func TestRunReadsLowering(t *testing.T) {
	test := ir.Test{To: pfx("192.0.2.1/32"), Protos: []ir.Proto{ir.TCP}, HasPort: true, Port: 443, Expect: ir.Accept}
	p := program(false, []ir.Rule{{Action: ir.Accept}}, test)
	p.Firewalls[0].Backend, p.Firewalls[0].MirageVersion, p.Firewalls[0].Netvm = ir.Mirage, "0.9.5", "sys-net"
	rel, err := mirage.LookupRelease("0.9.5")
	if err != nil {
		t.Fatal(err)
	}
	// The lowering of another list of one rule, which the unikernel
	// cannot parse: it drops all.
	badName := ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: ir.Dst{Host: "under_score.example"}}}
	voided, err := mirage.Lower(p.Qubes[0].IP, []ir.Rule{badName}, rel, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		lowered map[string]*mirage.Lowering
		passed  bool
	}{
		{"none given: lowered here", nil, true},
		{"another qube's given: lowered here", map[string]*mirage.Lowering{"vault": voided}, true},
		{"given: read as it is", map[string]*mirage.Lowering{"work": voided}, false},
	} {
		out := Run(p, 0, tt.lowered)
		if len(out) != 1 || out[0].Passed != tt.passed {
			t.Errorf("%s: %+v; want passed=%v", tt.name, out, tt.passed)
		}
	}
}

// Enforcers reads the lowering it is given, for a unikernel
// firewall only, and lowers q's rules itself without one.
func TestEnforcers(t *testing.T) {
	rel, err := mirage.LookupRelease("0.9.5")
	if err != nil {
		t.Fatal(err)
	}
	v4 := eval.Packet{Dst: netip.MustParseAddr("192.0.2.1"), Proto: eval.ProtoTCP, Port: 443}
	// The lowering of another list of one rule, which the unikernel
	// cannot parse: it drops all.
	badName := ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: ir.Dst{Host: "under_score.example"}}}
	voided, err := mirage.Lower(netip.MustParseAddr("10.137.0.11"), []ir.Rule{badName}, rel, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		backend ir.Backend
		lowered *mirage.Lowering
		want    ir.Action
	}{
		{"none given: lowered here", ir.Mirage, nil, ir.Accept},
		{"given: read as it is", ir.Mirage, voided, ir.Drop},
		{"another backend: not read", ir.Nftables, voided, ir.Accept},
	} {
		p := program(false, []ir.Rule{{Action: ir.Accept}})
		p.Firewalls[0].Backend, p.Firewalls[0].MirageVersion, p.Firewalls[0].Netvm = tt.backend, rel.Version, "sys-net"
		es := Enforcers(p, &p.Qubes[0], nil, 0, tt.lowered)
		if len(es) != 1 {
			t.Fatalf("%s: Enforcers = %+v; want one enforcer", tt.name, es)
		}
		if got := es[0].Eval(v4).Action; got != tt.want {
			t.Errorf("%s: Eval(%+v) = %s; want %s", tt.name, v4, got, tt.want)
		}
	}
}
