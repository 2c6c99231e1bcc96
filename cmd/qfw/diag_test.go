package main

import (
	"bytes"
	"testing"

	"cuelang.org/go/cue/token"
)

// TestPrintAnnotation checks the workflow commands GitHub Actions reads:
// the message escaped so that a newline stays in it, the properties so
// that a file name with ':' or ',' stays one property.
func TestPrintAnnotation(t *testing.T) {
	file := token.NewFile("/nowhere/a,b:c.cue", 0, 100)
	file.SetLines([]int{0, 10, 20})
	pos := file.Pos(23, token.NoRelPos)
	for _, c := range []struct {
		level, title, msg string
		pos               token.Pos
		want              string
	}{
		{"error", "", "plain", token.NoPos, "::error::plain\n"},
		{"warning", "expired", "two\nlines, 100%", pos, "::warning file=/nowhere/a%2Cb%3Ac.cue,line=3,col=4,title=expired::two%0Alines, 100%25\n"},
		{"error", "a:b", "x\r", pos, "::error file=/nowhere/a%2Cb%3Ac.cue,line=3,col=4,title=a%3Ab::x%0D\n"},
	} {
		var b bytes.Buffer
		printAnnotation(&b, c.level, c.pos, c.title, c.msg)
		if got := b.String(); got != c.want {
			t.Errorf("printAnnotation(%q, %q, %q) = %q; want %q", c.level, c.title, c.msg, got, c.want)
		}
	}
}
