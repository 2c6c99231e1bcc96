package nftables

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/internal/netnstest"
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func dst(s string) ir.Dst { return ir.Dst{Prefix: netip.MustParsePrefix(s)} }

func ports(first, last uint16) ir.PortRange { return ir.PortRange{First: first, Last: last} }

// sampleClients exercise every kind of set and rule.
func sampleClients() []Client {
	icmp8 := ir.Match{Proto: ir.ICMP, HasICMPType: true, ICMPType: 8}
	work := []ir.Rule{
		{Action: ir.Accept, Match: ir.Match{DNS: true}},
		{Action: ir.Accept, Match: ir.Match{Dst: dst("192.168.1.50/32"), Proto: ir.TCP, HasPorts: true, Ports: ports(631, 631)}},
		{Action: ir.Drop, Match: ir.Match{Dst: dst("10.0.0.0/8")}},
		{Action: ir.Drop, Match: ir.Match{Dst: dst("192.168.0.0/16")}},
		{Action: ir.Accept, Match: ir.Match{Dst: ir.Dst{Host: "example.org"}, Proto: ir.TCP, HasPorts: true, Ports: ports(22, 22)}},
		{Action: ir.Accept, Match: ir.Match{Proto: ir.UDP, HasPorts: true, Ports: ports(1000, 2000)}},
		{Action: ir.Accept, Match: icmp8},
		{Action: ir.Accept, Match: ir.Match{Dst: dst("198.51.100.0/24"), Proto: ir.ICMP}},
	}
	v6 := []ir.Rule{
		{Action: ir.Accept, Match: ir.Match{Dst: dst("2001:db8::/32"), Proto: ir.TCP, HasPorts: true, Ports: ports(443, 443)}},
		{Action: ir.Accept, Match: ir.Match{Dst: dst("::/0"), Proto: ir.ICMP, HasICMPType: true, ICMPType: 128}},
		{Action: ir.Drop, Match: ir.Match{Dst: dst("fd00::/8")}},
		{Action: ir.Accept, Match: ir.Match{}},
	}
	return []Client{
		{Name: "work", Addr4: addr("10.137.0.11"), Addr6: addr("fd09:24ef:4179::a89:b"), Rules4: work, Rules6: v6},
		{Name: "vault-ish", Addr4: addr("10.137.0.12"), Rules4: []ir.Rule{{Action: ir.Drop}}},
		{Name: "open", Addr4: addr("10.137.0.13"), Rules4: []ir.Rule{{Action: ir.Accept}}},
	}
}

func sampleOptions() Options {
	return Options{
		DNS4:     eval.QubesDNS(),
		Resolver: eval.Table{"example.org": {addr("93.184.216.34"), addr("2606:2800:220:1::1")}},
	}
}

// TestNetlinkMatchesText applies the same table as nft text with nft -f in
// one namespace and through netlink in another, and compares what nft
// lists from each: the netlink expressions must be those nft makes of the
// text. It also checks that Read sees what was applied.
func TestNetlinkMatchesText(t *testing.T) {
	table, blocked := Lower(sampleClients(), sampleOptions())
	if blocked != nil {
		t.Fatalf("blocked: %+v", blocked)
	}
	viaText, viaNetlink := netnstest.New(t), netnstest.New(t)
	viaText.Exec(t, table.Text(), "nft", "-f", "-")
	if _, err := Apply(table, viaNetlink.File); err != nil {
		t.Fatal(err)
	}
	want := viaText.Exec(t, nil, "nft", "list", "table", "inet", TableName)
	got := viaNetlink.Exec(t, nil, "nft", "list", "table", "inet", TableName)
	if got != want {
		t.Errorf("nft list after netlink apply:\n%s\nafter nft -f:\n%s", got, want)
	}
	state, err := Read(viaNetlink.File)
	if err != nil {
		t.Fatal(err)
	}
	if !state.Equal(table.State()) {
		t.Errorf("Read = %+v; want %+v", state, table.State())
	}
}

// TestUpdateClient changes one client's rules and updates only its part of
// the table: the other clients' chains keep their digests, and the result
// lists as a whole apply of the new table does.
func TestUpdateClient(t *testing.T) {
	clients := sampleClients()
	old, _ := Lower(clients, sampleOptions())
	clients[0].Rules4 = []ir.Rule{
		{Action: ir.Accept, Match: ir.Match{Dst: dst("203.0.113.0/24"), Proto: ir.TCP, HasPorts: true, Ports: ports(993, 993)}},
		{Action: ir.Drop, Match: ir.Match{}},
	}
	clients[0].Addr6 = netip.Addr{}
	updated, _ := Lower(clients, sampleOptions())

	checkUpdateClient(t, old, updated, "work", "changed c4-work; removed c6-work; 6 chains unchanged")
}

// checkUpdateClient applies old, updates client to updated, and checks
// the change reported and that the kernel then holds what Apply of updated
// leaves in a fresh namespace.
func checkUpdateClient(t *testing.T, old, updated *Table, client, wantChange string) {
	t.Helper()
	ns, whole := netnstest.New(t), netnstest.New(t)
	if _, err := Apply(old, ns.File); err != nil {
		t.Fatal(err)
	}
	change, err := UpdateClient(updated, client, ns.File)
	if err != nil {
		t.Fatal(err)
	}
	if got := change.String(); got != wantChange {
		t.Errorf("UpdateClient change = %q; want %q", got, wantChange)
	}
	if _, err := Apply(updated, whole.File); err != nil {
		t.Fatal(err)
	}
	got := ns.Exec(t, nil, "nft", "list", "table", "inet", TableName)
	want := whole.Exec(t, nil, "nft", "list", "table", "inet", TableName)
	// A set changed element by element lists them in another order.
	if normalize(sortElements(got)) != normalize(sortElements(want)) {
		t.Errorf("after UpdateClient:\n%s\nafter Apply of the same table:\n%s", got, want)
	}
}

// normalize makes a listing of qfw's table comparable whatever the order
// in which its sets and chains were made: it sorts them.
func normalize(listing string) string {
	var blocks []string
	var cur []string
	for _, line := range strings.Split(listing, "\n") {
		switch {
		case strings.HasPrefix(line, "\tset "), strings.HasPrefix(line, "\tmap "), strings.HasPrefix(line, "\tchain "):
			cur = []string{line}
		case line == "\t}" && cur != nil:
			blocks = append(blocks, strings.Join(append(cur, line), "\n"))
			cur = nil
		case cur != nil:
			cur = append(cur, line)
		}
	}
	slices.Sort(blocks)
	return strings.Join(blocks, "\n")
}

// TestApplyRefused sends a table the kernel refuses (a rule looks up a set
// that does not exist): the transaction fails as a whole, and the table in
// force before stays, chain for chain.
func TestApplyRefused(t *testing.T) {
	ns := netnstest.New(t)
	good, _ := Lower(sampleClients(), sampleOptions())
	if _, err := Apply(good, ns.File); err != nil {
		t.Fatal(err)
	}
	before := ns.Exec(t, nil, "nft", "list", "table", "inet", TableName)
	bad, _ := Lower(sampleClients()[1:], sampleOptions())
	bad.Chains[1].Rules = append([]Rule{{Family: 4, Exprs: []Expr{dstIn{"no-such-set"}, accept{}}}}, bad.Chains[1].Rules...)
	_, err := Apply(bad, ns.File)
	if err == nil || !strings.HasSuffix(err.Error(), "; the previous table stays in force") || errors.Is(err, ErrLockedDown) {
		t.Fatalf("Apply of a refused table: %v; want an error saying the previous table stays", err)
	}
	if after := ns.Exec(t, nil, "nft", "list", "table", "inet", TableName); after != before {
		t.Errorf("after a refused apply:\n%s\nbefore:\n%s", after, before)
	}
}

// TestSettleLocksDown makes the kernel hold something else than what was
// sent: settle must replace the table with the lockdown one, which sends
// nothing from a client anywhere, and say so.
func TestSettleLocksDown(t *testing.T) {
	ns := netnstest.New(t)
	table, _ := Lower(sampleClients(), sampleOptions())
	if _, err := Apply(table, ns.File); err != nil {
		t.Fatal(err)
	}
	want := table.State()
	want.Sets["c4-work-1-a"]++ // as if an element had been lost
	_, err := settle(ns.File, want, want, allSets, nil, "apply qfw's table")
	if !errors.Is(err, ErrLockedDown) {
		t.Fatalf("settle: %v; want ErrLockedDown", err)
	}
	got := ns.Exec(t, nil, "nft", "list", "table", "inet", TableName)
	const lockdown = `table inet qfw {
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related ct direction original accept
		ct state established,related meta l4proto tcp accept
		iifname != "vif*" oifname "vif*" ct state new tcp flags ! syn drop
		iifname != "vif*" accept comment "qfw:lockdown"
	}

	chain prerouting {
		type filter hook prerouting priority raw; policy accept;
	}

	chain postrouting {
		type filter hook postrouting priority raw; policy accept;
	}
}
`
	if got != lockdown {
		t.Errorf("after a failed check, the table is:\n%s\nwant the lockdown table:\n%s", got, lockdown)
	}
}

// TestApplyLargeSets applies sets of thousands of elements of every kind
// and family, more than one netlink attribute holds: google/nftables
// v0.3.0 would silently drop what does not fit, and Apply's read-back
// would lock down. Apply succeeding means every element arrived.
func TestApplyLargeSets(t *testing.T) {
	var r4, r6 []ir.Rule
	for i := range 3000 {
		a4 := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
		a6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(i >> 8), byte(i)})
		r4 = append(r4,
			ir.Rule{Action: ir.Drop, Match: ir.Match{Dst: ir.Dst{Prefix: netip.PrefixFrom(a4, 32)}}},
			ir.Rule{Action: ir.Drop, Match: ir.Match{Dst: ir.Dst{Prefix: netip.PrefixFrom(a4.Next(), 32)}, Proto: ir.TCP, HasPorts: true, Ports: ports(80, 80)}},
			ir.Rule{Action: ir.Drop, Match: ir.Match{Dst: ir.Dst{Prefix: netip.PrefixFrom(a4.Next().Next(), 32)}, Proto: ir.ICMP, HasICMPType: true, ICMPType: 8}})
		r6 = append(r6,
			ir.Rule{Action: ir.Drop, Match: ir.Match{Dst: ir.Dst{Prefix: netip.PrefixFrom(a6, 128)}}},
			ir.Rule{Action: ir.Drop, Match: ir.Match{Dst: ir.Dst{Prefix: netip.PrefixFrom(a6, 128)}, Proto: ir.UDP, HasPorts: true, Ports: ports(53, 53)}})
	}
	table, _ := Lower([]Client{{Name: "big", Addr4: addr("10.137.0.11"), Addr6: addr("fd09:24ef:4179::a89:b"), Rules4: r4, Rules6: r6}}, Options{})
	for _, s := range table.Sets {
		if s.Kind != VerdictMap && s.Kind != HostSet && s.Kind != GuardSet && len(s.Elements) < 3000 {
			t.Fatalf("set %s has %d elements; the test wants 3,000 or more", s.Name, len(s.Elements))
		}
	}
	ns := netnstest.New(t)
	if _, err := Apply(table, ns.File); err != nil {
		t.Fatal(err)
	}
}

func TestOwnership(t *testing.T) {
	for _, tt := range []struct {
		name, client string
		chain, set   bool
	}{
		{"c4-work", "work", true, false},
		{"c6-work", "work", true, false},
		{"c4-work-0-a", "work", false, true},
		{"c6-work-12-p", "work", false, true},
		{"c4-work-0-a", "work-0-a", true, false},
		{"c4-work-0-1-a", "work-0", false, true},
		{"c4-work-0-1-a", "work", false, false},
		{"c4-work-0", "work", false, false},
		{"c4-abc4-work", "work", false, false},
		{"c4-work-x-a", "work", false, false},
	} {
		if got := ownsChain(tt.name, tt.client); got != tt.chain {
			t.Errorf("ownsChain(%q, %q) = %v; want %v", tt.name, tt.client, got, tt.chain)
		}
		if got := ownsSet(tt.name, tt.client); got != tt.set {
			t.Errorf("ownsSet(%q, %q) = %v; want %v", tt.name, tt.client, got, tt.set)
		}
	}
}

// TestUpdateClientNames updates a client whose names other clients' names
// contain, or are contained in: only its own part changes.
func TestUpdateClientNames(t *testing.T) {
	rules := func(port uint16) []ir.Rule {
		return []ir.Rule{{Action: ir.Accept, Match: ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ports(port, port)}}}
	}
	clients := []Client{
		{Name: "work", Addr4: addr("10.137.0.11"), Rules4: rules(443)},
		{Name: "work-0-a", Addr4: addr("10.137.0.12"), Rules4: rules(443)},
		{Name: "abc4-work", Addr4: addr("10.137.0.13"), Rules4: rules(443)},
	}
	old, _ := Lower(clients, Options{})
	clients[0].Rules4 = rules(8443)
	updated, _ := Lower(clients, Options{})
	checkUpdateClient(t, old, updated, "work", "changed c4-work; 6 chains unchanged")
}

// TestBaseChainsStay applies tables one after another, through netlink and
// as nft text, changed and unchanged, with clients coming and going: the
// base chains keep the handles they were made with, so they were never
// unhooked, and each apply through netlink leaves what a fresh namespace
// holds after the same table.
func TestBaseChainsStay(t *testing.T) {
	clients := sampleClients()
	first, _ := Lower(clients, sampleOptions())
	withConnected := sampleOptions()
	withConnected.Connected4 = []netip.Addr{addr("10.137.0.11"), addr("10.137.0.12")}
	fewer, _ := Lower(clients[1:], withConnected)
	ns := netnstest.New(t)
	handles := func() string {
		var out []string
		for _, line := range strings.Split(ns.Exec(t, nil, "nft", "-a", "list", "table", "inet", TableName), "\n") {
			if strings.HasPrefix(line, "\tchain forward ") || strings.HasPrefix(line, "\tchain prerouting ") || strings.HasPrefix(line, "\tchain postrouting ") {
				out = append(out, strings.TrimSpace(line))
			}
		}
		return strings.Join(out, "; ")
	}
	if _, err := Apply(first, ns.File); err != nil {
		t.Fatal(err)
	}
	want := handles()
	if strings.Count(want, "handle") != 3 {
		t.Fatalf("base chains after the first apply: %s; want forward, prerouting and postrouting", want)
	}
	for i, step := range []struct {
		table *Table
		text  bool
	}{{first, false}, {fewer, false}, {first, true}, {fewer, true}, {first, false}, {Lockdown(), false}, {fewer, false}} {
		if step.text {
			ns.Exec(t, step.table.Text(), "nft", "-f", "-")
		} else if _, err := Apply(step.table, ns.File); err != nil {
			t.Fatalf("apply %d: %v", i, err)
		}
		if got := handles(); got != want {
			t.Errorf("apply %d: base chains %s; want %s as they were made", i, got, want)
		}
		if step.text {
			continue
		}
		fresh := netnstest.New(t)
		if _, err := Apply(step.table, fresh.File); err != nil {
			t.Fatal(err)
		}
		got := normalize(ns.Exec(t, nil, "nft", "list", "table", "inet", TableName))
		if w := normalize(fresh.Exec(t, nil, "nft", "list", "table", "inet", TableName)); got != w {
			t.Errorf("apply %d:\n%s\nin a fresh namespace:\n%s", i, got, w)
		}
	}

	// A base chain that someone added to the table stays, without its
	// rules, and the apply reads back as what it applied.
	ns.Exec(t, []byte("add chain inet qfw extra { type filter hook input priority 0; policy accept; }\nadd rule inet qfw extra accept\n"), "nft", "-f", "-")
	if _, err := Apply(first, ns.File); err != nil {
		t.Fatal(err)
	}
	const extra = "\tchain extra {\n\t\ttype filter hook input priority filter; policy accept;\n\t}"
	if got := ns.Exec(t, nil, "nft", "list", "table", "inet", TableName); !strings.Contains(got, extra) {
		t.Errorf("after an apply, the table holds:\n%s\nwant the chain extra, empty:\n%s", got, extra)
	}
}

// TestUpdateClientReadsBack checks the read-back of UpdateClient, which
// reads the elements of the client's sets, the client maps and the guard
// only: a count that differs there, or a set of the client's that it did
// not send, locks the table down; the state UpdateClient expects does not.
func TestUpdateClientReadsBack(t *testing.T) {
	table, _ := Lower(sampleClients(), sampleOptions())
	for _, tt := range []struct {
		name string
		// change makes the state that settle expects, or the kernel,
		// differ.
		change func(ns *netnstest.NS, want *State)
		locked bool
	}{
		{"as sent", func(*netnstest.NS, *State) {}, false},
		{"an element lost", func(_ *netnstest.NS, want *State) { want.Sets["c4-work-1-a"]++ }, true},
		{"a map entry lost", func(_ *netnstest.NS, want *State) { want.Sets["clients4"]++ }, true},
		{"the guard empty", func(_ *netnstest.NS, want *State) { want.Sets[guardName] = 0 }, true},
		{"a chain changed", func(_ *netnstest.NS, want *State) { want.Chains["c4-open"] = ChainState{Rules: 2} }, true},
		{"a set of the client's left", func(ns *netnstest.NS, _ *State) {
			ns.Exec(t, []byte("add set inet qfw c4-work-9-a { type ipv4_addr; }\n"), "nft", "-f", "-")
		}, true},
		{"a set of another client's left", func(ns *netnstest.NS, _ *State) {
			// Not the update's to vouch for: no chain looks it up.
			ns.Exec(t, []byte("add set inet qfw c4-open-9-a { type ipv4_addr; }\n"), "nft", "-f", "-")
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ns := netnstest.New(t)
			if _, err := Apply(table, ns.File); err != nil {
				t.Fatal(err)
			}
			scope := clientScope(table, "work")
			before, err := read(ns.File, scope)
			if err != nil {
				t.Fatal(err)
			}
			want := clientState(table, table.State(), "work", before, nil)
			// The client's entries as if taken out and put back.
			for _, s := range table.Sets {
				if s.Kind == VerdictMap {
					want.Sets[s.Name] = len(s.Elements)
				}
			}
			tt.change(ns, want)
			_, err = settle(ns.File, before, want, scope, nil, "update client work")
			if got := errors.Is(err, ErrLockedDown); got != tt.locked {
				t.Fatalf("settle: %v; want locked down %v", err, tt.locked)
			}
		})
	}
}

// elementLists returns lists of both families whose sets have ranges of
// every kind, one reaching the family's last address, with the allowed
// TCP port and the network given.
func elementLists(port uint16, net4, net6 string) (r4, r6 []ir.Rule) {
	tcp := func(d string, first, last uint16) ir.Rule {
		return ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: dst(d), Proto: ir.TCP, HasPorts: true, Ports: ports(first, last)}}
	}
	icmp := func(d string, typ uint8) ir.Rule {
		return ir.Rule{Action: ir.Drop, Match: ir.Match{Dst: dst(d), Proto: ir.ICMP, HasICMPType: true, ICMPType: typ}}
	}
	r4 = []ir.Rule{
		icmp("192.0.2.0/24", 8), icmp("198.51.100.7/32", 0),
		tcp("192.0.2.1/32", port, port), tcp("203.0.113.0/25", 1000, 2000),
		{Action: ir.Accept, Match: ir.Match{Dst: dst(net4)}},
		{Action: ir.Accept, Match: ir.Match{Dst: dst("240.0.0.0/4")}},
		{Action: ir.Drop},
	}
	r6 = []ir.Rule{
		icmp("2001:db8::/64", 128),
		tcp("2001:db8::1/128", port, port),
		{Action: ir.Accept, Match: ir.Match{Dst: dst(net6)}},
		{Action: ir.Accept, Match: ir.Match{Dst: dst("ff00::/8")}},
		{Action: ir.Drop},
	}
	return r4, r6
}

// TestDecoded reads the client sets of every kind and family back from the
// kernel as the elements that were applied.
func TestDecoded(t *testing.T) {
	r4, r6 := elementLists(80, "10.0.0.0/8", "fd00::/8")
	table, _ := Lower([]Client{{Name: "work", Addr4: addr("10.137.0.11"), Addr6: addr("fd09:24ef:4179::a89:b"), Rules4: r4, Rules6: r6}}, Options{})
	ns := netnstest.New(t)
	if _, err := Apply(table, ns.File); err != nil {
		t.Fatal(err)
	}
	r, err := newReader(ns.File)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	kinds := map[SetKind]bool{}
	for _, s := range table.Sets {
		if !ownsSet(s.Name, "work") {
			continue
		}
		kinds[s.Kind] = true
		got, ok, err := r.decoded(s.Name, s.Kind, s.Family)
		if err != nil || !ok {
			t.Fatalf("decoded(%s) = %v, %v", s.Name, ok, err)
		}
		slices.SortFunc(got, func(a, b Element) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		want := slices.Clone(s.Elements)
		slices.SortFunc(want, func(a, b Element) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		if !slices.Equal(got, want) {
			t.Errorf("set %s in the kernel:\n%v\nwant:\n%v", s.Name, got, want)
		}
	}
	if len(kinds) != 3 {
		t.Errorf("the test's sets are of %d kinds; want addresses, ports and ICMP", len(kinds))
	}
}

// TestUpdateClientElements updates a client whose sets keep their names
// and types: they are changed element by element, and the kernel then
// holds what an apply of the new table leaves. A set of the same name but
// another type is made anew.
func TestUpdateClientElements(t *testing.T) {
	home, _ := elementLists(80, "10.0.0.0/8", "fd00::/8")
	lists := func(port uint16, net4, net6 string) []Client {
		r4, r6 := elementLists(port, net4, net6)
		return []Client{
			{Name: "work", Addr4: addr("10.137.0.11"), Addr6: addr("fd09:24ef:4179::a89:b"), Rules4: r4, Rules6: r6},
			{Name: "home", Addr4: addr("10.137.0.12"), Rules4: home},
		}
	}
	old, _ := Lower(lists(80, "10.0.0.0/8", "fd00::/8"), Options{})
	updated, _ := Lower(lists(81, "10.128.0.0/9", "fc00::/7"), Options{})
	checkUpdateClient(t, old, updated, "work", "changed c4-work, c6-work; 5 chains unchanged")

	// A set is changed only where it is of the same type: each set that
	// Apply made is of its own type, and of no other kind's.
	ns := netnstest.New(t)
	if _, err := Apply(old, ns.File); err != nil {
		t.Fatal(err)
	}
	r, err := newReader(ns.File)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sets, err := r.sets()
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range sets {
		i := slices.IndexFunc(old.Sets, func(s *Set) bool { return s.Name == info.name })
		for _, kind := range []SetKind{AddrSet, PortSet, ICMPSet, HostSet, VerdictMap, GuardSet} {
			for _, fam := range []int{4, 6} {
				s := &Set{Name: info.name, Family: fam, Kind: kind}
				want := kind == old.Sets[i].Kind && (fam == old.Sets[i].Family || kind == GuardSet)
				if got := sameType(info, s); got != want {
					t.Errorf("sameType(%s in the kernel, IPv%d set of kind %d) = %v; want %v", info.name, fam, kind, got, want)
				}
			}
		}
	}
}
