package policy

import (
	"testing"

	"cuelang.org/go/cue"
)

// Path writes what cue.Path's String does.
func TestPathMatchesCUE(t *testing.T) {
	for _, elems := range [][]any{
		{"qubes"},
		{"qubes", "work", "allow", "web"},
		{"qubes", "sys-vpn", "deny", "v6block05"},
		{"qubes", "", "allow", "a b"},
		{"qubes", "_hidden", "allow", "#def"},
		{"qubes", "x\"y", "allow", "tab\there"},
		{"qubes", "ünï", "deny", "1st"},
		{"qubes", "for", "allow", "if"},
		{"tests", 0, "from"},
		{"tests", 12},
		{3, "a"},
		{"resolve", "api.example.net"},
	} {
		sels := make([]cue.Selector, len(elems))
		for i, e := range elems {
			if n, ok := e.(int); ok {
				sels[i] = cue.Index(n)
			} else {
				sels[i] = cue.Str(e.(string))
			}
		}
		if got, want := Path(elems...), cue.MakePath(sels...).String(); got != want {
			t.Errorf("Path(%q) = %s, want %s", elems, got, want)
		}
	}
}
