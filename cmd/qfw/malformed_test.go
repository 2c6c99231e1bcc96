package main

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/qfw-dev/qfw/schema"
)

// internalPhrases are words of CUE's and Go's workings that no message to
// a user may hold: a message says in the policy's words what is wrong.
var internalPhrases = []string{
	"_|_",
	"incomplete value",
	"non-concrete",
	"mismatched types",
	"strconv.",
	"Go struct field",
	"json: cannot unmarshal",
}

// TestMalformedMessages checks the expected output of every case of the
// malformed-input corpus for CUE's and Go's internal text, and for the
// names of the schema's definitions, which users never write.
func TestMalformedMessages(t *testing.T) {
	phrases := append([]string(nil), internalPhrases...)
	for _, m := range regexp.MustCompile(`(?m)^(#[A-Za-z]+):`).FindAllStringSubmatch(schema.Source(), -1) {
		phrases = append(phrases, m[1])
	}
	if len(phrases) == len(internalPhrases) {
		t.Fatal("found no definitions in the schema")
	}
	cases, err := filepath.Glob("testdata/malformed/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 50 {
		t.Fatalf("%d cases in testdata/malformed; want at least 50", len(cases))
	}
	for _, c := range cases {
		a, err := txtar.ParseFile(c)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(a.Comment, []byte("cmp stderr ")) {
			t.Errorf("%s: no cmp stderr: each case checks its exact message", c)
		}
		for _, f := range a.Files {
			if !strings.HasPrefix(f.Name, "want") {
				continue
			}
			for _, p := range phrases {
				if bytes.Contains(f.Data, []byte(p)) {
					t.Errorf("%s: %s holds %q:\n%s", c, f.Name, p, f.Data)
				}
			}
		}
	}
}
