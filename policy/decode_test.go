package policy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"

	"github.com/qfw-dev/qfw/schema"
)

// The schema leaves qubes open and the decoder closes their rules, so the
// decoder must take every field the schema's #Rule documents, and no other.
func TestRuleFieldsMatchSchema(t *testing.T) {
	ctx := cuecontext.New()
	s := ctx.CompileString(schema.Source(), cue.Filename(schema.Filename))
	iter, err := s.LookupPath(cue.ParsePath("#Rule")).Fields(cue.Optional(true))
	if err != nil {
		t.Fatal(err)
	}
	fields := []string{"bogus"}
	for iter.Next() {
		fields = append(fields, iter.Selector().Unquoted())
	}
	for _, f := range fields {
		var d decoder
		d.decodeRule(ctx.CompileString(f + ": _"))
		notAllowed := strings.Contains(fmt.Sprint(d.errs), "field not allowed")
		if notAllowed != (f == "bogus") {
			t.Errorf("field %s: the decoder says %v", f, d.errs)
		}
	}
}

// The decoder checks names in Go what the schema's #Name and #QubeName say.
func TestNamesMatchSchema(t *testing.T) {
	ctx := cuecontext.New()
	s := ctx.CompileString(schema.Source(), cue.Filename(schema.Filename))
	names := []string{
		"", "a", "A", "0", "_a", "-a", ".a", "a_b.c-d", "web01", "9lives", "a b", "a/b", "é",
		"sys-firewall", "a234567890123456789012345678901", "a2345678901234567890123456789012",
		"none", "default", "None", "nonex", "disp-dm", "dm", "a-dm-b", "sys-net-dm",
	}
	for _, c := range []struct {
		def   string
		check func(string) bool
	}{{"#Name", IsRuleName}, {"#QubeName", IsQubeName}} {
		def := s.LookupPath(cue.ParsePath(c.def))
		for _, n := range names {
			inSchema := def.Unify(ctx.Encode(n)).Validate(cue.Concrete(true)) == nil
			if got := c.check(n); got != inSchema {
				t.Errorf("%s: %q: the decoder says %v, the schema %v", c.def, n, got, inSchema)
			}
		}
	}
}

// The field lists that name the field meant in an error are the schema's.
func TestFieldListsMatchSchema(t *testing.T) {
	ctx := cuecontext.New()
	s := ctx.CompileString(schema.Source(), cue.Filename(schema.Filename))
	for def, list := range map[string][]string{"#Qube": qubeFields, "#Rule": ruleFields, "#Service": serviceFields} {
		iter, err := s.LookupPath(cue.ParsePath(def)).Fields(cue.Optional(true))
		if err != nil {
			t.Fatal(err)
		}
		var fields []string
		for iter.Next() {
			fields = append(fields, iter.Selector().Unquoted())
		}
		slices.Sort(fields)
		if !slices.Equal(fields, list) {
			t.Errorf("%s has fields %q; the decoder lists %q", def, fields, list)
		}
	}
}

// networksWellFormed takes the common networks sections without the
// schema, and none that the schema would refuse.
func TestNetworksWellFormedMatchesSchema(t *testing.T) {
	l := newLoader()
	schemaNetworks := l.schema.LookupPath(cue.MakePath(cue.Def("#Policy"), cue.Str("networks").Optional()))
	for _, c := range []struct {
		src  string
		fast bool // whether networksWellFormed takes it
	}{
		{`networks: {}`, true},
		{`networks: lan: ["10.0.0.0/8", "fd00::/8", "example.com"]`, true},
		{`networks: lan: [], wan: ["a" + "b"]`, true},
		{`networks: lan: [for x in ["a"] {x}]`, true},
		{`networks: lan: *["a"] | ["b"]`, true},
		{`networks: lan: ["a", ...]`, true},
		{`networks: lan: ["a", *"b" | "c"]`, false}, // valid, but left to the schema
		{`networks: 5`, false},
		{`networks: "-lan": []`, false},
		{`networks: lan: "10.0.0.1"`, false},
		{`networks: lan: {}`, false},
		{`networks: lan: ["a", 1]`, false},
		{`networks: lan: [null]`, false},
		{`networks: lan: [string]`, false},
		{`networks: lan: [=~"x"]`, false},
		{`networks: lan: ["a", "b" | "c"]`, false},
		{`networks: lan: ["a"] | ["b"]`, false},
		{`networks: lan: [1 & 2]`, false},
		{`networks: lan: ["a"], networks: lan: ["a", "b"]`, false},
	} {
		u := l.ctx.CompileString(c.src).LookupPath(cue.ParsePath("networks"))
		if got := networksWellFormed(u); got != c.fast {
			t.Errorf("networksWellFormed(%s) = %v, want %v", c.src, got, c.fast)
		}
		if err := schemaNetworks.Unify(u).Validate(cue.Concrete(true), cue.Final()); c.fast && err != nil {
			t.Errorf("networksWellFormed takes %s, which the schema refuses: %v", c.src, err)
		}
	}
}

// The kinds a rule can acknowledge are the schema's #AckKind, and every
// other kind is one it refuses.
func TestAckKindsMatchSchema(t *testing.T) {
	ctx := cuecontext.New()
	def := ctx.CompileString(schema.Source(), cue.Filename(schema.Filename)).LookupPath(cue.ParsePath("#AckKind"))
	all := []Kind{Expired, Hostname, Redundant, Shadowed, PortZero, Unresolved, NoNetvm, Unikernel, ShadowedTakesEffect, UnusedAck, "expird"}
	for _, k := range all {
		inSchema := def.Unify(ctx.Encode(string(k))).Validate(cue.Concrete(true)) == nil
		if got := slices.Contains(AckKinds, k); got != inSchema {
			t.Errorf("%q: the decoder says ackable %v, the schema %v", k, got, inSchema)
		}
	}
	if !slices.IsSorted(AckKinds) {
		t.Errorf("AckKinds %q are not sorted", AckKinds)
	}
}
