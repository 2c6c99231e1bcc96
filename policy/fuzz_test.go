package policy

import (
	stdjson "encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue/errors"
)

// internals are what an error must not show the user: CUE's and Go's words
// for what went wrong, rather than the inventory's.
var internals = []string{
	"_|_", "#Inventory", "#InventoryQube", "#QubeName", "incomplete value", "non-concrete",
	"mismatched types", "strconv.", "Go struct field", "json: cannot unmarshal",
}

// FuzzLoadInventory checks LoadInventory on any file: it returns an
// inventory or positioned errors in the inventory's words, never both and
// never a panic; and an inventory it accepts, written back as an inventory
// file, loads to the same inventory. Seeds are in testdata/fuzz.
func FuzzLoadInventory(f *testing.F) {
	for _, s := range []string{
		`{"qubes": {}}`,
		`{"qubes": {"work": {"class": "AppVM", "ip": "10.137.0.11", "ip6": "fd09:24ef:4179::a89:b", "netvm": "sys-firewall", "label": "blue", "tags": ["corp"]}, "sys-firewall": {"provides_network": true}}}`,
		`{"qubes": {"work": {"ip": "10.137.0.011"}}}`,
		`{"qubes": {"work": {"ip6": "::ffff:1.2.3.4"}}}`,
		`{"qubes": {"work": {"ip6": "fe80::1%eth0"}}}`,
		`{"qubes": {"work": {"netvm": "nowhere"}}}`,
		`{"qubes": {"work": {"netvm": "vault"}, "vault": {}}}`,
		`{"qubes": {"1work": {}}}`,
		`{"qubes": {"work": {"ip": "10.137.0.11",}}}`,
		`{"qubes": {"work": {}, "work": {"ip": "10.137.0.1"}}}`,
		`{"qubes": {"work": {"extra": [1, {"a": null}]}}}`,
		`{"qubes": {"work": {"tags": "corp"}}}`, `{"qubes": {"work": {"provides_network": "yes"}}}`,
		`{"qubes": null}`, `[]`, `0`, `{"quBes": {"0000": {"00000": "0"}, "00000": {}}}`,
		`{}`, ``, `{"qubes": {"work": {"label": "\u00e9\ud800"}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "inventory.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		inv, err := LoadInventory(path)
		if err != nil {
			if inv != nil {
				t.Fatalf("LoadInventory returned an inventory and errors: %v", err)
			}
			checkErrors(t, data, err)
			return
		}
		for name, q := range inv.Qubes {
			if q.Name != name {
				t.Fatalf("qube %q has name %q", name, q.Name)
			}
			if q.IP.IsValid() && !q.IP.Is4() || q.IP6.IsValid() && (!q.IP6.Is6() || q.IP6.Is4In6() || q.IP6.Zone() != "") {
				t.Fatalf("qube %q has addresses %s and %s", name, q.IP, q.IP6)
			}
		}

		out, jerr := stdjson.Marshal(inv.file())
		if jerr != nil {
			t.Fatal(jerr)
		}
		path2 := filepath.Join(dir, "again.json")
		if err := os.WriteFile(path2, out, 0o644); err != nil {
			t.Fatal(err)
		}
		again, err := LoadInventory(path2)
		if err != nil {
			t.Fatalf("inventory %s, written back as %s, does not load: %v", data, out, errors.Details(err, nil))
		}
		if !sameInventory(inv, again) {
			t.Fatalf("inventory %s, written back as %s, loads differently", data, out)
		}
	})
}

// checkErrors fails t unless every error of loading data has a position
// and speaks the inventory's words.
func checkErrors(t *testing.T, data []byte, err errors.Error) {
	t.Helper()
	details := errors.Details(err, nil)
	for _, bad := range internals {
		if strings.Contains(details, bad) {
			t.Fatalf("loading %q: error shows internals (%q):\n%s", data, bad, details)
		}
	}
	for _, e := range errors.Errors(err) {
		if !e.Position().IsValid() && len(e.InputPositions()) == 0 {
			t.Fatalf("loading %q: error without a position:\n%s", data, details)
		}
	}
}

// sameInventory reports whether a and b hold the same qubes, whatever
// their paths; no tags and an empty list of tags are the same.
func sameInventory(a, b *Inventory) bool {
	if len(a.Qubes) != len(b.Qubes) {
		return false
	}
	for name, qa := range a.Qubes {
		qb, ok := b.Qubes[name]
		if !ok {
			return false
		}
		if qa.Name != qb.Name || qa.Class != qb.Class || qa.IP != qb.IP || qa.IP6 != qb.IP6 ||
			qa.Netvm != qb.Netvm || qa.Label != qb.Label || qa.ProvidesNetwork != qb.ProvidesNetwork ||
			!slices.Equal(qa.Tags, qb.Tags) {
			return false
		}
	}
	return true
}
