package mirage

import (
	"net/netip"
	"strings"

	"cuelang.org/go/cue/token"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// Short constructors keep table rows on one line.

func pfx(s string) ir.Dst                   { return ir.Dst{Prefix: netip.MustParsePrefix(s)} }
func host(s string) ir.Dst                  { return ir.Dst{Host: s} }
func ports(first, last uint16) ir.PortRange { return ir.PortRange{First: first, Last: last} }

func accept(m ir.Match) ir.Rule { return ir.Rule{Action: ir.Accept, Match: m} }
func drop(m ir.Match) ir.Rule   { return ir.Rule{Action: ir.Drop, Match: m} }

// named gives r an origin: its kind from its action, name, and line n of
// policyFile.
func named(r ir.Rule, name string, n int) ir.Rule {
	kind := ir.Allow
	if r.Action == ir.Drop {
		kind = ir.Deny
	}
	r.Origin = ir.Origin{Kind: kind, Name: name, Pos: pos(n)}
	return r
}

// policyFile stands in for a policy of 100 lines of 10 bytes each.
var policyFile = func() *token.File {
	content := []byte(strings.Repeat("123456789\n", 100))
	f := token.NewFile("policy.cue", -1, len(content))
	f.SetLinesForContent(content)
	return f
}()

// pos returns the position of column 3 of line n of policyFile.
func pos(n int) token.Pos { return policyFile.Pos((n-1)*10+2, token.NoRelPos) }

func mustRelease(v string) Release {
	r, err := LookupRelease(v)
	if err != nil {
		panic(err)
	}
	return r
}

var (
	client = netip.MustParseAddr("10.137.0.3")
	latest = mustRelease(Latest)
)
