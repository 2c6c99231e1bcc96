package query

import (
	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/policytest"
)

// formatVersion is the version of the JSON documents the answers write.
const formatVersion = "1.0"

// Policy is a compiled policy to ask about, at a time.
type Policy struct {
	Program *ir.Program
	// Lowered holds, by qube name, the unikernel's reading of the list of
	// each qube behind a unikernel firewall at Now, as the build lowered
	// it; a list not in it is lowered when asked about.
	Lowered map[string]*mirage.Lowering
	// Now is the time rule expiry is judged at, in UNIX seconds.
	Now int64
}

// FromBuild returns the policy b built, judged at the time it was built
// for.
func FromBuild(b *deploy.Built) *Policy {
	return &Policy{Program: b.Program, Lowered: b.Mirage, Now: b.Now.Unix()}
}

// Qube returns the qube of p named name, or nil if there is none.
func (p *Policy) Qube(name string) *ir.Qube {
	for i := range p.Program.Qubes {
		if p.Program.Qubes[i].Name == name {
			return &p.Program.Qubes[i]
		}
	}
	return nil
}

// enforcers returns where q's rules are enforced, names resolving as res
// says.
func (p *Policy) enforcers(q *ir.Qube, res eval.Resolver) []policytest.Enforcer {
	return policytest.Enforcers(p.Program, q, res, p.Now, p.Lowered[q.Name])
}
