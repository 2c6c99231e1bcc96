package policy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/errors"
)

// CUE's messages are restated in the policy's words; the table holds the
// messages CUE v0.17 gives for the mistakes users make most.
func TestPlainMessage(t *testing.T) {
	for _, c := range []struct {
		path   []string
		format string
		args   []any
		want   string
	}{
		{[]string{"qubes", "work", "network"}, "conflicting values %s and %s (mismatched types %s and %s)",
			[]any{`"no"`, "bool", "string", "bool"}, `network must be true or false, not "no"`},
		{[]string{"tests", "0", "port"}, "conflicting values %s and %s (mismatched types %s and %s)",
			[]any{"int", `"x"`, "int", "string"}, `port must be a whole number, not "x"`},
		{[]string{"networks", "lan", "1"}, "conflicting values %s and %s (mismatched types %s and %s)",
			[]any{"10", "string", "int", "string"}, "an entry of lan must be a string, not 10"},
		{[]string{"services", "s", "tcp"}, "conflicting values %s and %s (mismatched types %s and %s)",
			[]any{`"x"`, "[...#Port]", "string", "list"}, `tcp must be true (every port) or a list of ports, not "x"`},
		{[]string{"tests"}, "conflicting values %s and %s (mismatched types %s and %s)",
			[]any{"{a:1}", "[...#Test]", "struct", "list"}, "tests must be a list [...], not {a:1}"},
		{[]string{"x"}, "conflicting values %s and %s (mismatched types %s and %s)",
			[]any{"string", "bool", "string", "bool"}, "x cannot be both a string and true or false"},
		{[]string{"a"}, "conflicting values %s and %s (mismatched types %s and %s)",
			[]any{"1", `"a"`, "int", "string"}, `conflicting values 1 and "a"`},
		{[]string{"qubes", "work", "network"}, "incomplete value %v", []any{"bool"},
			"network must be given a value, not only the type bool"},
		{[]string{"qubes", "work", "network"}, "incomplete value %v", []any{"true | false"},
			"network must be one value, not the choice true | false"},
		{[]string{"p"}, "incomplete value %v", []any{">5"}, "p must be given a value, not only the constraint >5"},
		{[]string{"tests", "0", "port"}, "invalid value %v (out of bound %s)", []any{"70000", "<=65535"},
			"port 70000 is out of range: it must be at most 65535"},
		{[]string{"tests", "0", "from"}, "invalid value %v (out of bound %s)", []any{`"none"`, `!="none"`},
			`"none" is not a Qubes name: Qubes keeps "none" and "default" for no qube and the default one`},
		{[]string{"firewalls", "fw", "backend"}, "field is required but not present", nil, "backend is required but not given"},
		{[]string{"x"}, "error in call to %s", []any{"strconv.Atoi"}, "the call to Atoi of package strconv fails"},
		{[]string{"x"}, "%s", []any{"value of #Dest is _|_"}, "value of destination is an error"},
	} {
		format, args := plainMessage(c.path, c.format, c.args)
		if got := fmt.Sprintf(format, args...); got != c.want {
			t.Errorf("%q %q: got %q, want %q", c.format, c.args, got, c.want)
		}
	}
}

// The messages CUE gives for mistakes in a policy's expressions are
// restated: CUE itself makes them here, so that a change of its wording
// between versions fails this test rather than reaching the user.
func TestPlainMessageOfCUE(t *testing.T) {
	for _, c := range []struct {
		src  string
		want []string // path: message, sorted
	}{
		{"a: int\nx: -a\n", []string{
			"a: a must be given a value, not only the type int",
			`x: a is used in "-" before it has a value`,
		}},
		{"a: string\nx: -a\n", []string{"x: invalid operation -a"}},
		{"a: int\nx: a + 1\n", []string{
			"a: a must be given a value, not only the type int",
			`x: a value used in "+" must be given, not only int`,
		}},
		{"a: 1 + \"x\"\n", []string{`a: "+" cannot combine a whole number and a string`}},
		{"a: _\nx: [for e in a {e}]\n", []string{
			"a: a must be given a value, not only the type _",
			"x: cannot loop over a: it has no value yet",
		}},
		{"a: b+1\nb: a+1\n", []string{"a: a depends on itself, through b", "b: b depends on itself, through a"}},
		{"x: *1 | *2\n", []string{"x: x must be one value, not the choice 1 | 2"}},
		{"x: =~\"a\"\nx: 5\n", []string{"x: x must be a string, not 5"}},
		{"import \"strings\"\nx: strings.MinRunes(3) & \"ab\"\n", []string{
			`x: x "ab" is out of range: it must be strings.MinRunes(3)`,
		}},
	} {
		v := cuecontext.New().CompileString(c.src)
		var got []string
		for _, e := range errors.Errors(v.Validate(cue.Concrete(true), cue.Final())) {
			format, args := e.Msg()
			format, args = plainMessage(e.Path(), format, args)
			got = append(got, strings.Join(e.Path(), ".")+": "+fmt.Sprintf(format, args...))
		}
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("%q: got %q, want %q", c.src, got, c.want)
		}
	}
}

// QubeNameError gives the reason Qubes' validate_name would.
func TestQubeNameError(t *testing.T) {
	for name, want := range map[string]string{
		"work":                             "",
		"sys-net":                          "",
		"a.b_c-d":                          "",
		"":                                 "a qube name cannot be empty",
		"1work":                            "a qube name starts with a letter",
		"_work":                            "a qube name starts with a letter",
		"my work":                          "a qube name holds only letters, digits, '_', '.' and '-'",
		"none":                             `Qubes keeps "none" and "default" for no qube and the default one`,
		"default":                          `Qubes keeps "none" and "default" for no qube and the default one`,
		"sys-net-dm":                       `Qubes keeps names ending in "-dm" for device-model stub domains`,
		"a234567890123456789012345678901":  "",
		"a2345678901234567890123456789012": "a qube name has at most 31 characters",
	} {
		if got := QubeNameError(name); got != want {
			t.Errorf("QubeNameError(%q) = %q, want %q", name, got, want)
		}
	}
}
