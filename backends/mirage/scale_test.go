package mirage

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// ipv4AfterScan is ipv4After as it is defined: a scan of the rules after i.
func ipv4AfterScan(rules []ir.Rule, i int, t int64) (n, first int) {
	first = -1
	for j := i + 1; j < len(rules); j++ {
		if ir.InFamilyList(rules[j], 4, t) {
			if n == 0 {
				first = j
			}
			n++
		}
	}
	return n, first
}

// TestIPv4AfterDifferential checks the counts kept per time against a scan,
// on random lists of both families, names and expiring rules.
func TestIPv4AfterDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	dsts := []ir.Dst{
		{Prefix: netip.MustParsePrefix("192.0.2.0/24")},
		{Prefix: netip.MustParsePrefix("2001:db8::/32")},
		{Host: "example.com"},
		{},
	}
	for round := range 500 {
		rules := make([]ir.Rule, r.IntN(30))
		for i := range rules {
			rules[i].Dst = dsts[r.IntN(len(dsts))]
			if r.IntN(3) == 0 {
				rules[i].Expire = int64(100 * (1 + r.IntN(4)))
			}
		}
		a := newIPv4After(rules)
		for range 3 * len(rules) {
			i, at := r.IntN(len(rules)), int64(50*r.IntN(10))
			gotN, gotFirst := a.after(i, at)
			wantN, wantFirst := ipv4AfterScan(rules, i, at)
			if gotN != wantN || gotFirst != wantFirst {
				t.Fatalf("round %d: after(%d, %d) = %d, %d; want %d, %d (rules %v)", round, i, at, gotN, gotFirst, wantN, wantFirst, rules)
			}
		}
	}
}
