package diff

import (
	"io"
	"strings"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/par"
	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/policy/diagnostic"
	"github.com/qfw-dev/qfw/review/source"
)

// Policies are the two policies a diff compares, BASE and HEAD, read and
// built.
type Policies struct {
	Sides [2]*source.Side
	// Programs are the compiled policies; both are nil unless both sides
	// built without errors.
	Programs [2]*ir.Program
	// Lowered hold, for each side, the unikernel's reading of the lists
	// of the qubes behind a unikernel firewall, by qube name, as the
	// build lowered them; a list not in them is lowered when compared.
	Lowered [2]map[string]*mirage.Lowering
	// Now is the time both were built for, which Lowered's lists hold
	// and expiry is compared at, in UNIX seconds.
	Now int64
	// Diagnostics are the warnings and errors of building each side,
	// with the file names of a revision in its temporary directory:
	// [source.Side.Rewrite] gives them as the user knows them.
	Diagnostics [2]diagnostic.Report
}

// Load reads the policies that base and head name, each a directory or a
// git revision as [source.Open] reads them, and builds both at once as
// [deploy.Build] does with opts, but each from its own directory. Errors
// in a policy are in the result's Diagnostics; the error is one of
// reading. Close removes what Load read.
func Load(base, head string, opts deploy.BuildOptions) (*Policies, error) {
	p := &Policies{Now: opts.Now.Unix()}
	for i, arg := range []string{base, head} {
		s, err := source.Open(arg, [2]string{"BASE", "HEAD"}[i])
		if err != nil {
			p.Close()
			return nil, err
		}
		p.Sides[i] = s
	}
	var built [2]*deploy.Built
	par.Each(2, func(i int) {
		o := opts
		o.Args = []string{p.Sides[i].Dir}
		d := &p.Diagnostics[i]
		built[i], d.Warnings, d.Errors = deploy.Build(o)
	})
	if built[0] != nil && built[1] != nil {
		p.Programs = [2]*ir.Program{built[0].Program, built[1].Program}
		p.Lowered = [2]map[string]*mirage.Lowering{built[0].Mirage, built[1].Mirage}
	}
	return p, nil
}

// Failed reports whether a side's policy has errors.
func (p *Policies) Failed() bool {
	return len(p.Diagnostics[0].Errors) > 0 || len(p.Diagnostics[1].Errors) > 0
}

// WriteErrors writes, for each side whose policy has errors, its
// warnings and errors as [diagnostic.Report.WriteText] does, with the
// file names of a revision as the user knows them. A side without errors
// is left out: its warnings are vet's to show.
func (p *Policies) WriteErrors(w io.Writer) error {
	var b strings.Builder
	for i, d := range p.Diagnostics {
		if len(d.Errors) > 0 {
			var side strings.Builder
			d.WriteText(&side, false)
			b.WriteString(p.Sides[i].Rewrite(side.String()))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Close removes what Load read from git.
func (p *Policies) Close() {
	for _, s := range p.Sides {
		if s != nil {
			s.Cleanup()
		}
	}
}
