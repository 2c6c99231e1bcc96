package nftables

import (
	"errors"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/internal/netnstest"
)

// namedClients: work allows a name and a prefix next to it (the name's
// address may join the prefix's range), guard denies the name, and plain
// names none.
func namedClients() []Client {
	svc := ir.Dst{Host: "svc.test"}
	return []Client{
		{Name: "work", Addr4: addr("10.137.0.11"), Addr6: addr("fd09:24ef:4179::a89:b"), Rules4: []ir.Rule{
			{Action: ir.Accept, Match: ir.Match{Dst: svc}},
			{Action: ir.Accept, Match: ir.Match{Dst: dst("192.0.2.0/25")}},
			{Action: ir.Accept, Match: ir.Match{Dst: svc, Proto: ir.TCP, HasPorts: true, Ports: ports(8000, 8080)}},
		}, Rules6: []ir.Rule{
			{Action: ir.Accept, Match: ir.Match{Dst: svc, Proto: ir.TCP, HasPorts: true, Ports: ports(443, 443)}},
		}},
		{Name: "guard", Addr4: addr("10.137.0.12"), Rules4: []ir.Rule{
			{Action: ir.Drop, Match: ir.Match{Dst: svc}},
			{Action: ir.Accept},
		}},
		{Name: "plain", Addr4: addr("10.137.0.13"), Rules4: []ir.Rule{
			{Action: ir.Accept, Match: ir.Match{Dst: dst("198.51.100.0/24"), Proto: ir.UDP}},
		}},
	}
}

func namedTable(t *testing.T, clients []Client, svc ...string) *Table {
	t.Helper()
	var addrs []netip.Addr
	for _, s := range svc {
		addrs = append(addrs, addr(s))
	}
	table, blocked := Lower(clients, Options{DNS4: eval.QubesDNS(), Resolver: eval.Table{"svc.test": addrs}})
	for _, b := range blocked {
		if !b.Skipped {
			t.Fatalf("blocked: %+v", blocked)
		}
	}
	return table
}

// handles lists each rule of the table in the kernel with its handle.
var handleRE = regexp.MustCompile(`# handle \d+`)

// TestUpdateElements moves a name's addresses, next to a prefix and away
// from it, in both families: only set elements and the digests of the
// chains that use the name change, every other rule keeps its handle, and
// the kernel then lists what an Apply of the new table gives.
func TestUpdateElements(t *testing.T) {
	clients := namedClients()
	steps := []struct {
		svc  []string
		want string
	}{
		{[]string{"192.0.2.200", "2001:db8::1"}, ""},
		// Next to the prefix: 192.0.2.0-192.0.2.128 in one range.
		{[]string{"192.0.2.128", "2001:db8::2"}, "changed c4-guard, c4-work, c6-work; 5 chains unchanged"},
		// Into the prefix, and out of it.
		{[]string{"192.0.2.128", "192.0.2.7", "2001:db8::2", "2001:db8::3"}, "changed c4-guard, c4-work, c6-work; 5 chains unchanged"},
		{[]string{"203.0.113.9", "2001:db8::3"}, "changed c4-guard, c4-work, c6-work; 5 chains unchanged"},
		{[]string{"203.0.113.9", "2001:db8::3"}, "no changes: 8 chains as they were"},
	}
	ns, whole := netnstest.New(t), netnstest.New(t)
	old := namedTable(t, clients, steps[0].svc...)
	if _, err := Apply(old, ns.File); err != nil {
		t.Fatal(err)
	}
	for _, step := range steps[1:] {
		new := namedTable(t, clients, step.svc...)
		before := ns.Exec(t, nil, "nft", "-a", "list", "table", "inet", TableName)
		change, err := UpdateElements(old, new, ns.File)
		if err != nil {
			t.Fatalf("%v: %v", step.svc, err)
		}
		if got := change.String(); got != step.want {
			t.Errorf("%v: change = %q; want %q", step.svc, got, step.want)
		}
		after := ns.Exec(t, nil, "nft", "-a", "list", "table", "inet", TableName)
		if keptRules(before) == "" {
			t.Fatalf("no rule without a digest in:\n%s", before)
		}
		// Every rule but the replaced digests keeps its handle: rules
		// without a digest comment are listed the same.
		if got, want := keptRules(after), keptRules(before); got != want {
			t.Errorf("%v: rules without digests changed:\n%s\nwas:\n%s", step.svc, got, want)
		}
		if _, err := Apply(new, whole.File); err != nil {
			t.Fatal(err)
		}
		got := ns.Exec(t, nil, "nft", "list", "table", "inet", TableName)
		want := whole.Exec(t, nil, "nft", "list", "table", "inet", TableName)
		if sortElements(normalize(got)) != sortElements(normalize(want)) {
			t.Errorf("%v: after UpdateElements:\n%s\nafter Apply of the same table:\n%s", step.svc, got, want)
		}
		old = new
	}
}

// sortElements sorts the elements of each set in a listing: nft lists a
// concatenated set's in the order they were added.
func sortElements(listing string) string {
	re := regexp.MustCompile(`elements = \{[^}]*\}`)
	return re.ReplaceAllStringFunc(listing, func(block string) string {
		inner := strings.TrimSuffix(strings.TrimPrefix(block, "elements = {"), "}")
		var elems []string
		for _, e := range strings.Split(inner, ",") {
			elems = append(elems, strings.TrimSpace(e))
		}
		slices.Sort(elems)
		return strings.Join(elems, ", ")
	})
}

// keptRules returns the rules of a listing with handles (nft -a) that
// carry no digest, with their handles, and the sets without handles.
func keptRules(listing string) string {
	var out []string
	for _, line := range strings.Split(listing, "\n") {
		if strings.Contains(line, `comment "qfw:`) || !handleRE.MatchString(line) || strings.Contains(line, "set ") || strings.Contains(line, "map ") || strings.Contains(line, "chain ") {
			continue
		}
		out = append(out, strings.TrimSpace(line))
	}
	return strings.Join(out, "\n")
}

// TestUpdateElementsRefuses: a rule that changes, a set that comes or
// goes, or a kernel that does not hold the old table, is not for
// UpdateElements, which changes nothing then.
func TestUpdateElementsRefuses(t *testing.T) {
	clients := namedClients()
	old := namedTable(t, clients, "192.0.2.200")
	ns := netnstest.New(t)
	if _, err := Apply(old, ns.File); err != nil {
		t.Fatal(err)
	}
	listing := ns.Exec(t, nil, "nft", "-a", "list", "table", "inet", TableName)

	otherRule := namedClients()
	otherRule[2].Rules4[0].Action = ir.Drop
	// The name leaves the prefix's step: work's chain gets a set more.
	newSet := namedClients()
	newSet[0].Rules4 = newSet[0].Rules4[:2]
	otherClient := namedClients()[:2]
	for name, new := range map[string]*Table{
		"a rule changes":      namedTable(t, otherRule, "192.0.2.200"),
		"a set goes":          namedTable(t, newSet, "192.0.2.200"),
		"a client goes":       namedTable(t, otherClient, "192.0.2.200"),
		"the kernel is other": nil,
	} {
		from := old
		if new == nil {
			// The kernel holds old, not what the caller says it does.
			from, new = namedTable(t, clients, "192.0.2.9"), namedTable(t, clients, "192.0.2.10")
		}
		_, err := UpdateElements(from, new, ns.File)
		if !errors.Is(err, ErrNotElementOnly) {
			t.Errorf("%s: UpdateElements = %v; want ErrNotElementOnly", name, err)
		}
		if got := ns.Exec(t, nil, "nft", "-a", "list", "table", "inet", TableName); got != listing {
			t.Errorf("%s: the kernel's table changed:\n%s", name, got)
		}
	}
}

// TestUpdateElementsRefused: a transaction the kernel refuses (an element
// to delete that is not there) leaves the old table in force.
func TestUpdateElementsRefused(t *testing.T) {
	clients := namedClients()
	old := namedTable(t, clients, "192.0.2.200")
	ns := netnstest.New(t)
	if _, err := Apply(old, ns.File); err != nil {
		t.Fatal(err)
	}
	ns.Exec(t, nil, "nft", "delete", "element", "inet", TableName, "c4-guard-0-a", "{ 192.0.2.200 }")
	listing := ns.Exec(t, nil, "nft", "list", "table", "inet", TableName)
	_, err := UpdateElements(old, namedTable(t, clients, "192.0.2.201"), ns.File)
	if err == nil || !strings.HasSuffix(err.Error(), "; the previous table stays in force") || errors.Is(err, ErrLockedDown) {
		t.Fatalf("UpdateElements = %v; want an error saying the previous table stays", err)
	}
	if got := ns.Exec(t, nil, "nft", "list", "table", "inet", TableName); got != listing {
		t.Errorf("after a refused update:\n%s\nbefore:\n%s", got, listing)
	}
}

// TestUpdateElementsLarge moves a name between two sets of thousands of
// addresses, more than one netlink message holds: every element must
// arrive and go, or the read-back would lock the table down.
func TestUpdateElementsLarge(t *testing.T) {
	many := func(third byte) []netip.Addr {
		var out []netip.Addr
		for i := range 3000 {
			out = append(out, netip.AddrFrom4([4]byte{10, third + byte(i>>8), byte(i), 1}))
		}
		return out
	}
	svc := ir.Match{Dst: ir.Dst{Host: "cdn.test"}}
	web := svc
	web.Proto, web.HasPorts, web.Ports = ir.TCP, true, ports(443, 443)
	clients := []Client{{Name: "work", Addr4: addr("10.137.0.11"), Rules4: []ir.Rule{
		{Action: ir.Drop, Match: svc}, {Action: ir.Accept, Match: web},
	}}}
	old, _ := Lower(clients, Options{Resolver: eval.Table{"cdn.test": many(0)}})
	new, _ := Lower(clients, Options{Resolver: eval.Table{"cdn.test": many(100)}})
	ns := netnstest.New(t)
	if _, err := Apply(old, ns.File); err != nil {
		t.Fatal(err)
	}
	change, err := UpdateElements(old, new, ns.File)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := change.String(), "changed c4-work; 4 chains unchanged"; got != want {
		t.Errorf("change = %q; want %q", got, want)
	}
}

// TestUpdateClientElementsOnly changes a client's sets element by
// element, its chains' rules left as they are but the digests: the
// kernel then holds what an apply of the new table leaves, and the other
// client is not touched. Anything more than elements, or a kernel that
// does not hold the old table, is refused with ErrNotElementOnly, and the
// kernel keeps what it held.
func TestUpdateClientElementsOnly(t *testing.T) {
	lists := func(port uint16, net4, homeNet string) []Client {
		r4, r6 := elementLists(port, net4, "fd00::/8")
		home, _ := elementLists(80, homeNet, "fd00::/8")
		return []Client{
			{Name: "work", Addr4: addr("10.137.0.11"), Addr6: addr("fd09:24ef:4179::a89:b"), Rules4: r4, Rules6: r6},
			{Name: "home", Addr4: addr("10.137.0.12"), Rules4: home},
		}
	}
	old, _ := Lower(lists(80, "10.0.0.0/8", "10.0.0.0/8"), Options{})
	updated, _ := Lower(lists(81, "10.128.0.0/9", "10.0.0.0/8"), Options{})
	ns, whole := netnstest.New(t), netnstest.New(t)
	if _, err := Apply(old, ns.File); err != nil {
		t.Fatal(err)
	}
	change, err := UpdateClientElements(old, updated, "work", ns.File)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := change.String(), "changed c4-work, c6-work; 5 chains unchanged"; got != want {
		t.Errorf("change = %q; want %q", got, want)
	}
	if _, err := Apply(updated, whole.File); err != nil {
		t.Fatal(err)
	}
	got := ns.Exec(t, nil, "nft", "list", "table", "inet", TableName)
	want := whole.Exec(t, nil, "nft", "list", "table", "inet", TableName)
	if normalize(sortElements(got)) != normalize(sortElements(want)) {
		t.Errorf("after UpdateClientElements:\n%s\nafter Apply of the same table:\n%s", got, want)
	}

	moreRules := lists(81, "10.128.0.0/9", "10.0.0.0/8")
	moreRules[0].Rules4 = append([]ir.Rule{{Action: ir.Drop, Match: ir.Match{Proto: ir.UDP}}}, moreRules[0].Rules4...)
	structure, _ := Lower(moreRules, Options{})
	otherClient, _ := Lower(lists(81, "10.128.0.0/9", "172.16.0.0/12"), Options{})
	for _, tt := range []struct {
		name     string
		old, new *Table
	}{
		{"another rule", updated, structure},
		{"another client's set", updated, otherClient},
		{"old not in force", old, updated},
	} {
		before, err := Read(ns.File)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := UpdateClientElements(tt.old, tt.new, "work", ns.File); !errors.Is(err, ErrNotElementOnly) {
			t.Errorf("%s: error %v; want ErrNotElementOnly", tt.name, err)
		}
		after, err := Read(ns.File)
		if err != nil {
			t.Fatal(err)
		}
		if !after.Equal(before) || !after.Equal(updated.State()) {
			t.Errorf("%s: the kernel's table changed", tt.name)
		}
	}
}
