package diagnostic

import (
	"bytes"
	"fmt"
	"testing"

	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"github.com/qfw-dev/qfw/policy"
)

// The diagnostics the tests print: positions in a file outside the working
// directory, so that their names stay absolute.
var (
	file = func() *token.File {
		f := token.NewFile("/nowhere/p.cue", 0, 100)
		f.SetLines([]int{0, 10, 20, 30})
		return f
	}()
	at = func(offset int) token.Pos { return file.Pos(offset, token.NoRelPos) }

	unknownNetvm = policy.Errorf(at(23), "qubes.work", "unknown netvm %q", "sys-x")
	conflict     = policy.ErrorfAlso(at(5), []token.Pos{at(12), at(5)}, "rules.1", "gives the other verdict than rule 0")
	unreadable   = errors.Newf(token.NoPos, "cannot read %q:", "x.cue")
	expired      = policy.Warnf(policy.Expired, at(15), "rules.2", "expired at %s", "2026-01-01")
	unikernel    = policy.Warnf(policy.Unikernel, at(25), "", "the unikernel drops it")
	hostname     = policy.Warnf(policy.Hostname, at(1), "rules.0", "%q is a host name", "example.com")

	// full has every sort of diagnostic, out of order.
	full = &Report{
		Warnings:     []errors.Error{unikernel, expired},
		Errors:       []errors.Error{unknownNetvm, conflict, unreadable},
		Acknowledged: []errors.Error{hostname},
	}
)

func TestWriteText(t *testing.T) {
	for _, c := range []struct {
		name   string
		r      *Report
		strict bool
		want   string
	}{
		{"empty", &Report{}, true, ""},
		{"full", full, false, `/nowhere/p.cue:2:6: warning: rules.2: expired at 2026-01-01
/nowhere/p.cue:3:6: warning: the unikernel drops it
qfw: cannot read "x.cue"
/nowhere/p.cue:1:6: rules.1: gives the other verdict than rule 0
    /nowhere/p.cue:2:3
/nowhere/p.cue:3:4: qubes.work: unknown netvm "sys-x"
`},
		{"strict names kinds and counts", full, true, `/nowhere/p.cue:2:6: warning [expired]: rules.2: expired at 2026-01-01
/nowhere/p.cue:3:6: warning [unikernel]: the unikernel drops it
qfw: cannot read "x.cue"
/nowhere/p.cue:1:6: rules.1: gives the other verdict than rule 0
    /nowhere/p.cue:2:3
/nowhere/p.cue:3:4: qubes.work: unknown netvm "sys-x"
qfw: --strict: 2 warnings; a rule acknowledges a warning it is meant to have with ack: [KIND]
`},
		{"strict, no warning a rule can acknowledge", &Report{Warnings: []errors.Error{unikernel}}, true, `/nowhere/p.cue:3:6: warning [unikernel]: the unikernel drops it
qfw: --strict: 1 warning
`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			c.r.WriteText(&b, c.strict)
			if got := b.String(); got != c.want {
				t.Errorf("WriteText(strict %v):\n%s\nwant:\n%s", c.strict, got, c.want)
			}
		})
	}
}

func TestWriteWarningsErrors(t *testing.T) {
	var b bytes.Buffer
	WriteWarnings(&b, []errors.Error{unikernel, expired})
	// errors.Promote keeps the message of a Go error in Error only.
	WriteErrors(&b, []errors.Error{unknownNetvm, errors.Promote(fmt.Errorf("open x.cue: permission denied"), ""), unreadable})
	want := `/nowhere/p.cue:2:6: warning: rules.2: expired at 2026-01-01
/nowhere/p.cue:3:6: warning: the unikernel drops it
qfw: cannot read "x.cue"
qfw: open x.cue: permission denied
/nowhere/p.cue:3:4: qubes.work: unknown netvm "sys-x"
`
	if got := b.String(); got != want {
		t.Errorf("WriteWarnings, WriteErrors:\n%s\nwant:\n%s", got, want)
	}
}

func TestPassed(t *testing.T) {
	for _, c := range []struct {
		r            *Report
		strict, want bool
	}{
		{&Report{}, true, true},
		{&Report{Acknowledged: []errors.Error{hostname}}, true, true},
		{&Report{Warnings: []errors.Error{expired}}, false, true},
		{&Report{Warnings: []errors.Error{expired}}, true, false},
		{&Report{Errors: []errors.Error{unknownNetvm}}, false, false},
	} {
		if got := c.r.Passed(c.strict); got != c.want {
			t.Errorf("%d warnings, %d errors: Passed(%v) = %v; want %v", len(c.r.Warnings), len(c.r.Errors), c.strict, got, c.want)
		}
	}
}

func TestWriteGitHub(t *testing.T) {
	for _, c := range []struct {
		strict bool
		want   string
	}{
		{false, `::error::cannot read "x.cue"
::error file=/nowhere/p.cue,line=1,col=6::rules.1: gives the other verdict than rule 0%0A    /nowhere/p.cue:2:3
::warning file=/nowhere/p.cue,line=2,col=6,title=expired::rules.2: expired at 2026-01-01
::error file=/nowhere/p.cue,line=3,col=4::qubes.work: unknown netvm "sys-x"
::warning file=/nowhere/p.cue,line=3,col=6,title=unikernel::the unikernel drops it
`},
		{true, `::error::cannot read "x.cue"
::error file=/nowhere/p.cue,line=1,col=6::rules.1: gives the other verdict than rule 0%0A    /nowhere/p.cue:2:3
::error file=/nowhere/p.cue,line=2,col=6,title=expired::rules.2: expired at 2026-01-01
::error file=/nowhere/p.cue,line=3,col=4::qubes.work: unknown netvm "sys-x"
::error file=/nowhere/p.cue,line=3,col=6,title=unikernel::the unikernel drops it
`},
	} {
		var b bytes.Buffer
		full.WriteGitHub(&b, c.strict)
		if got := b.String(); got != c.want {
			t.Errorf("WriteGitHub(strict %v):\n%s\nwant:\n%s", c.strict, got, c.want)
		}
	}
}

// TestWriteAnnotation checks the workflow commands GitHub Actions reads:
// the message escaped so that a newline stays in it, the properties so
// that a file name with ':' or ',' stays one property.
func TestWriteAnnotation(t *testing.T) {
	file := token.NewFile("/nowhere/a,b:c.cue", 0, 100)
	file.SetLines([]int{0, 10, 20})
	pos := file.Pos(23, token.NoRelPos)
	for _, c := range []struct {
		level      Level
		title, msg string
		pos        token.Pos
		want       string
	}{
		{LevelError, "", "plain", token.NoPos, "::error::plain\n"},
		{LevelWarning, "expired", "two\nlines, 100%", pos, "::warning file=/nowhere/a%2Cb%3Ac.cue,line=3,col=4,title=expired::two%0Alines, 100%25\n"},
		{LevelError, "a:b", "x\r", pos, "::error file=/nowhere/a%2Cb%3Ac.cue,line=3,col=4,title=a%3Ab::x%0D\n"},
	} {
		var b bytes.Buffer
		WriteAnnotation(&b, c.level, c.pos, c.title, c.msg)
		if got := b.String(); got != c.want {
			t.Errorf("WriteAnnotation(%q, %q, %q) = %q; want %q", c.level, c.title, c.msg, got, c.want)
		}
	}
}

func TestWriteJSON(t *testing.T) {
	for _, c := range []struct {
		name   string
		r      *Report
		strict bool
		want   string
	}{
		{"empty", &Report{}, true, `{
  "format_version": "1.0",
  "strict": true,
  "passed": true,
  "diagnostics": [],
  "summary": {
    "errors": 0,
    "warnings": 0,
    "acknowledged": 0
  }
}
`},
		{"full", full, false, `{
  "format_version": "1.0",
  "strict": false,
  "passed": false,
  "diagnostics": [
    {
      "severity": "error",
      "message": "cannot read \"x.cue\""
    },
    {
      "severity": "warning",
      "kind": "hostname",
      "acknowledged": true,
      "position": "/nowhere/p.cue:1:2",
      "path": "rules.0",
      "message": "\"example.com\" is a host name"
    },
    {
      "severity": "error",
      "position": "/nowhere/p.cue:1:6",
      "path": "rules.1",
      "message": "gives the other verdict than rule 0",
      "also": [
        "/nowhere/p.cue:2:3"
      ]
    },
    {
      "severity": "warning",
      "kind": "expired",
      "position": "/nowhere/p.cue:2:6",
      "path": "rules.2",
      "message": "expired at 2026-01-01"
    },
    {
      "severity": "error",
      "position": "/nowhere/p.cue:3:4",
      "path": "qubes.work",
      "message": "unknown netvm \"sys-x\""
    },
    {
      "severity": "warning",
      "kind": "unikernel",
      "position": "/nowhere/p.cue:3:6",
      "message": "the unikernel drops it"
    }
  ],
  "summary": {
    "errors": 3,
    "warnings": 2,
    "acknowledged": 1
  }
}
`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := c.r.WriteJSON(&b, c.strict); err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != c.want {
				t.Errorf("WriteJSON(strict %v):\n%s\nwant:\n%s", c.strict, got, c.want)
			}
		})
	}
}
