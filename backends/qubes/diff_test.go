package qubes

import (
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
