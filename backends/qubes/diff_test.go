package qubes

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	for _, tt := range []struct {
		current, desired string
		want             string
	}{
		{"", "", ""},
		{"a b c", "a b c", "~a ~b ~c"},
		{"", "a b", "+a +b"},
		{"a b", "", "-a -b"},
		{"a c", "a b c", "~a +b ~c"},
		{"a b c", "a c", "~a -b ~c"},
		{"a b", "a c", "~a -b +c"},
		// A moved rule is removed and added: order decides verdicts.
		{"a b c", "c a b", "+c ~a ~b -c"},
		{"accept", "drop", "-accept +drop"},
	} {
		edits := Diff(strings.Fields(tt.current), strings.Fields(tt.desired))
		var got []string
		for _, e := range edits {
			got = append(got, e.Op.Symbol()+e.Line)
		}
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("Diff(%q, %q) = %q; want %q", tt.current, tt.desired, g, tt.want)
		}
		// Applying the edits gives the new list, and the kept and
		// removed lines are the current one.
		var after, before []string
		for _, e := range edits {
			if e.Op != RemoveRule {
				after = append(after, e.Line)
			}
			if e.Op != AddRule {
				before = append(before, e.Line)
			}
		}
		if !slices.Equal(after, strings.Fields(tt.desired)) || !slices.Equal(before, strings.Fields(tt.current)) {
			t.Errorf("Diff(%q, %q): edits do not lead from one list to the other: %q", tt.current, tt.desired, got)
		}
	}
}

func TestListHash(t *testing.T) {
	a := ListHash([]string{"action=accept"})
	if a != ListHash([]string{"action=accept"}) {
		t.Error("ListHash differs for the same list")
	}
	for _, other := range [][]string{nil, {"action=drop"}, {"action=accept", "action=accept"}, {"action=accept "}} {
		if ListHash(other) == a {
			t.Errorf("ListHash(%q) equals that of [action=accept]", other)
		}
	}
}

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"action=accept": "action=accept",
		"proto=tcp dstports=443-443 action=accept dsthost=10.0.0.1": "action=accept dst4=10.0.0.1/32 proto=tcp dstports=443-443",
		"not a rule": "not a rule",
	} {
		if got := Canonical(in); got != want {
			t.Errorf("Canonical(%q) = %q; want %q", in, got, want)
		}
	}
}

// diffTable is Diff as defined, with the whole table: the reference for
// TestDiffDifferential.
func diffTable(current, desired []string) []Edit {
	n, m := len(current), len(desired)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if current[i] == desired[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var edits []Edit
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && current[i] == desired[j]:
			edits = append(edits, Edit{KeepRule, desired[j], j})
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			edits = append(edits, Edit{RemoveRule, current[i], i})
			i++
		default:
			edits = append(edits, Edit{AddRule, desired[j], j})
			j++
		}
	}
	return edits
}

// TestDiffDifferential checks Diff, which keeps a common prefix without a
// table, against the definition on random lists of few distinct lines.
func TestDiffDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	list := func() []string {
		l := make([]string, r.IntN(12))
		for i := range l {
			l[i] = string(rune('a' + r.IntN(4)))
		}
		return l
	}
	for range 20000 {
		cur, des := list(), list()
		if r.IntN(2) == 0 {
			// A shared start, which Diff keeps without its table.
			pre := list()
			cur, des = append(slices.Clone(pre), cur...), append(slices.Clone(pre), des...)
		}
		if got, want := Diff(cur, des), diffTable(cur, des); !slices.Equal(got, want) {
			t.Fatalf("Diff(%q, %q) = %v; want %v", cur, des, got, want)
		}
	}
}

// TestDiffBounded checks that lists too long to compare in bounded memory,
// as a state file may hold, still give an edit from one to the other: the
// common start kept, the rest of one removed and of the other added.
func TestDiffBounded(t *testing.T) {
	cur := make([]string, 200000)
	for i := range cur {
		cur[i] = fmt.Sprintf("action=accept dst4=10.0.%d.%d/32", i/256%256, i%256)
	}
	des := slices.Clone(cur[:3])
	for i := range 200 {
		des = append(des, fmt.Sprintf("action=drop comment=n%d", i))
	}
	if (len(cur)-2)*(len(des)-2) <= maxDiffCells {
		t.Fatalf("the lists fit in %d cells; the test wants them not to", maxDiffCells)
	}
	edits := Diff(cur, des)
	if len(edits) != len(cur)+len(des)-3 {
		t.Fatalf("Diff gave %d edits; want %d", len(edits), len(cur)+len(des)-3)
	}
	for k, e := range edits {
		var want Edit
		switch {
		case k < 3:
			want = Edit{KeepRule, cur[k], k}
		case k < len(cur):
			want = Edit{RemoveRule, cur[k], k}
		default:
			j := k - len(cur) + 3
			want = Edit{AddRule, des[j], j}
		}
		if e != want {
			t.Fatalf("edit %d = %v; want %v", k, e, want)
		}
	}
}
