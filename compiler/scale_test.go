package compiler

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/space"
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

func TestDropCoveredDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 3000 {
		ts := make([]target, r.IntN(4*fewTargets))
		for i := range ts {
			ts[i] = target{dst: randomDst(r)}
			ts[i].at.S = fmt.Sprint(i) // tells equal destinations apart
		}
		// dropCoveredPairs is the definition: each destination
		// compared with every other.
		want := dropCoveredPairs(ts)
		// The sweep at every length, the few that dropCovered
		// compares pairwise included.
		if got := dropCoveredSweep(slices.Clone(ts)); !slices.Equal(got, want) {
			t.Fatalf("round %d: dropCoveredSweep(%v)\n = %v\nwant %v", round, ts, got, want)
		}
	}
}

// coverQuadratic is the coverage check as it is defined: target less the
// boxes of every earlier rule in turn, and the rules whose boxes took
// something; with maxPieces as the bound on the work.
func coverQuadratic(target []space.Box, earlier [][]space.Box) (covering []int, ok bool) {
	if len(target) == 0 {
		return nil, false
	}
	rest := target
	for j, eb := range earlier {
		met := false
		for _, e := range eb {
			out, m := space.Minus(rest, e, nil)
			if m {
				met, rest = true, out
			}
			if len(rest) > maxPieces {
				return nil, false
			}
		}
		if met {
			covering = append(covering, j)
		}
		if len(rest) == 0 {
			return covering, true
		}
	}
	return nil, false
}

// randomRule returns a rule to a destination of randomDst (or any, or the
// DNS servers), with a random protocol part, verdict and expiry.
func randomRule(r *rand.Rand) ir.Rule {
	m := ir.Match{Dst: randomDst(r)}
	switch r.IntN(8) {
	case 0:
		m.Dst = ir.Dst{}
	case 1:
		m.Dst, m.DNS = ir.Dst{}, true
	}
	switch r.IntN(4) {
	case 0:
		m.Proto = ir.TCP
	case 1:
		m.Proto = ir.UDP
	case 2:
		m.Proto = ir.ICMP
		if r.IntN(2) == 0 {
			m.HasICMPType, m.ICMPType = true, uint8(r.IntN(4))
		}
	}
	if (m.Proto == ir.TCP || m.Proto == ir.UDP) && r.IntN(3) > 0 {
		first := uint16(r.IntN(8) * 100)
		m.HasPorts, m.Ports = true, ir.PortRange{First: first, Last: first + uint16(r.IntN(300))}
	}
	rule := ir.Rule{Action: ir.Accept, Match: m}
	if r.IntN(2) == 0 {
		rule.Action = ir.Drop
	}
	if r.IntN(10) == 0 {
		rule.Expire = 4102444800
	}
	return rule
}

// TestCoverDifferential checks the coverage analysis, which subtracts only
// the earlier boxes that meet a rule, against the definition, which
// subtracts them all, on random lists.
func TestCoverDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	tree := 0
	for round := range 1500 {
		// One list in ten is long enough that the index searches its
		// tree rather than scanning its boxes.
		n := r.IntN(50)
		if round%10 == 0 {
			n = 100 + r.IntN(100)
		}
		rules := make([]ir.Rule, n)
		for i := range rules {
			rules[i] = randomRule(r)
		}
		boxes, coverers := ruleBoxes(rules, QubesDNS())
		cv := newCoverIndex(coverers)
		if len(cv.boxes) > 256 { // space.scanBelow
			tree++
		}
		for i := range rules {
			gotBy, gotOK := cv.cover(boxes[i], i)
			wantBy, wantOK := coverQuadratic(boxes[i], coverers[:i])
			if gotOK != wantOK || !slices.Equal(gotBy, wantBy) {
				t.Fatalf("round %d, rule %d of %v: cover = %v, %v; want %v, %v", round, i, rules, gotBy, gotOK, wantBy, wantOK)
			}
		}
	}
	if tree < 100 {
		t.Fatalf("%d lists of more than 256 boxes, which the index searches by its tree; want 100 or more", tree)
	}
}
