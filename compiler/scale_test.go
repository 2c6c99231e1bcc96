package compiler

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// The steps of the compiler that see every destination of a rule are
// near-linear; these tests check them against the plain quadratic
// definitions they replace, on random inputs dense in overlaps.

// randomDst returns a destination from a small universe, so that repeats,
// nested prefixes and prefixes of the other family are frequent.
func randomDst(r *rand.Rand) ir.Dst {
	switch r.IntN(5) {
	case 0:
		return ir.Dst{Host: fmt.Sprintf("h%d.example", r.IntN(4))}
	case 1, 2:
		a := netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(4)), byte(r.IntN(8))})
		p, _ := a.Prefix(r.IntN(33))
		return ir.Dst{Prefix: p}
	default:
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(r.IntN(3)), 15: byte(r.IntN(4))})
		p, _ := a.Prefix(r.IntN(129))
		return ir.Dst{Prefix: p}
	}
}

// coveredQuadratic is the definition dropCovered implements: destination
// i of ts is matched in full by another of them, an equal one earlier in
// the list or a wider prefix.
func coveredQuadratic(i int, ts []target) bool {
	d := ts[i].dst
	for j, o := range ts {
		switch {
		case j == i:
		case o.dst == d:
			if j < i {
				return true
			}
		case d.Prefix.IsValid() && o.dst.Prefix.IsValid() &&
			o.dst.Prefix.Bits() < d.Prefix.Bits() && o.dst.Prefix.Overlaps(d.Prefix):
			return true
		}
	}
	return false
}

func TestDropCoveredDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 3000 {
		ts := make([]target, r.IntN(40))
		for i := range ts {
			ts[i] = target{dst: randomDst(r)}
			ts[i].at.S = fmt.Sprint(i) // tells equal destinations apart
		}
		var want []target
		for i, t := range ts {
			if !coveredQuadratic(i, ts) {
				want = append(want, t)
			}
		}
		if got := dropCovered(slices.Clone(ts)); !slices.Equal(got, want) {
			t.Fatalf("round %d: dropCovered(%v)\n = %v\nwant %v", round, ts, got, want)
		}
	}
}
