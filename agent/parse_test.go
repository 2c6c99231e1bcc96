package agent

import (
	"fmt"
	"net/netip"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/compiler/ir"
)

// longList returns the keys of a list of n rules for addrA, as QubesDB
// answers a MULTIREAD of them: sorted, the policy last.
func longList(n int) []qubes.Entry {
	rules := make([]ir.Rule, n)
	for i := range rules {
		port := uint16(1 + i%60000)
		rules[i] = ir.Rule{Action: []ir.Action{ir.Accept, ir.Drop}[i%2], Match: ir.Match{
			Proto: ir.TCP, HasPorts: true, Ports: ir.PortRange{First: port, Last: port},
			Dst: ir.Dst{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 32)},
		}}
	}
	var list []qubes.Entry
	for _, e := range qubes.Entries(addrA, rules, 0) {
		if e.Op == qubes.Write && strings.HasPrefix(e.Path, ir.QubesDBDir(addrA)+"/") {
			list = append(list, e)
		}
	}
	slices.SortFunc(list, func(x, y qubes.Entry) int { return strings.Compare(x.Path, y.Path) })
	return list
}

// parseList gives what qubes.ParseQubesDBList gives, rules or error, for
// lists long enough to be parsed in parts, whatever is wrong with them
// and wherever.
func TestParseList(t *testing.T) {
	// In parts even where there is one processor: parseList takes no
	// more parts than GOMAXPROCS, and with one would parse every list
	// whole, as the reference does.
	prev := runtime.GOMAXPROCS(4)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	dir := ir.QubesDBDir(addrA) + "/"
	set := func(list []qubes.Entry, key, value string) []qubes.Entry {
		list = slices.Clone(list)
		for i := range list {
			if list[i].Path == dir+key {
				list[i].Value = value
			}
		}
		return list
	}
	long := longList(5000)
	tests := map[string][]qubes.Entry{
		"good":                long,
		"short":               longList(10),
		"bad rule early":      set(long, "0010", "action=accept proto=tcp dstports=1-x"),
		"bad rule late":       set(long, "4990", "action=reject"),
		"two bad rules":       set(set(long, "0010", "action=reject"), "4000", "action=maybe"),
		"bad policy":          set(long, "policy", "reject"),
		"no policy":           long[:len(long)-1],
		"unknown key late":    append(slices.Clone(long), qubes.Entry{Op: qubes.Write, Path: dir + "zz", Value: "x"}),
		"bad rule, bad key":   append(set(long, "0001", "action=reject"), qubes.Entry{Op: qubes.Write, Path: dir + "zz"}),
		"not sorted":          append(slices.Clone(long[100:]), long[:100]...),
		"a key twice":         slices.Insert(slices.Clone(long), 2500, long[2500]),
		"a key of another ip": slices.Insert(slices.Clone(long), 2500, qubes.Entry{Op: qubes.Write, Path: "/qubes-firewall/10.137.0.6/2500", Value: long[2500].Value}),
	}
	for name, list := range tests {
		t.Run(name, func(t *testing.T) {
			want, wantErr := qubes.ParseQubesDBList(addrA, list)
			got, err := parseList(addrA, list)
			if fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Fatalf("error %v; want %v", err, wantErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%d rules, not the %d of the list as one", len(got), len(want))
			}
		})
	}
}

// BenchmarkParseList parses a list of 10,000 rules, as on a commit.
func BenchmarkParseList(b *testing.B) {
	list := longList(10000)
	b.Run("whole", func(b *testing.B) {
		for b.Loop() {
			qubes.ParseQubesDBList(addrA, list)
		}
	})
	b.Run("parts", func(b *testing.B) {
		for b.Loop() {
			parseList(addrA, list)
		}
	})
}
