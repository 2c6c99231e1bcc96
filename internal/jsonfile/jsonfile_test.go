package jsonfile

import (
	"fmt"
	"strings"
	"testing"
)

// TestErrors reads one file per row, as a record {"n": 1, "s": "x"} with
// an optional "t", and compares the exact error: each at its line and
// column, with the field's path.
func TestErrors(t *testing.T) {
	read := func(data string) error {
		d, root, err := Parse("f.json", []byte(data))
		if err != nil {
			return err
		}
		if err := d.Object(root, "", []string{"n", "s"}, []string{"t"}); err != nil {
			return err
		}
		if _, err := d.Integer(root.Fields["n"], "n", 1, 9); err != nil {
			return err
		}
		if _, err := d.Str(root.Fields["s"], "s"); err != nil {
			return err
		}
		if tv, ok := root.Fields["t"]; ok {
			if _, err := d.Timestamp(tv, "t"); err != nil {
				return err
			}
		}
		return nil
	}
	for _, tc := range []struct{ data, want string }{
		{`{"n": 1, "s": "x"}`, "<nil>"},
		{`{"n": 1, "s": "x", "t": "2027-01-31T18:00:00Z"}`, "<nil>"},
		{`{"n": 1,` + "\n" + ` "s": "x", "n": 2}`, `f.json:2:12: field "n" appears twice`},
		{`{"n": 1, "s": "x", "u": 0}`, `f.json:1:20: u: unknown field; want "n", "s" or "t"`},
		{`{"n": 1}`, `f.json:1:1: the file has no field "s"`},
		{`{"n": 10, "s": "x"}`, "f.json:1:7: n: 10 is not a whole number from 1 to 9"},
		{`{"n": 1, "s": 2}`, "f.json:1:15: s: want a string, not a number"},
		{`{"n": 1, "s": "x", "t": "noon"}`, `f.json:1:25: t: "noon" is not an RFC 3339 time such as 2027-01-31T18:00:00Z`},
		{`{"n": 1, "s": "x"} {}`, "f.json:1:21: more after the JSON value"},
		{"\ufeff{}", "f.json:1:1: invalid JSON: the file starts with a byte order mark; save it as UTF-8 without one"},
		{`{"n": 1,`, "f.json:1:9: invalid JSON: the file ends before the JSON value does"},
		{`[]`, "f.json:1:1: want an object, not a list"},
		{strings.Repeat("[", 40) + strings.Repeat("]", 40), "f.json:1:34: values nested over 32 deep"},
	} {
		if got := fmt.Sprint(read(tc.data)); got != tc.want {
			t.Errorf("%q:\n got %s\nwant %s", tc.data, got, tc.want)
		}
	}
}

// TestRaw gives a value's bytes as the file has them.
func TestRaw(t *testing.T) {
	d, root, err := Parse("f.json", []byte(`{"a": [1, {"b": 2}] }`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(d.Raw(root.Fields["a"])), `[1, {"b": 2}]`; got != want {
		t.Errorf("Raw: %s; want %s", got, want)
	}
}
