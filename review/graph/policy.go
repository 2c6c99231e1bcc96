package graph

import (
	"fmt"
	"slices"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/compiler/ir"
)

// Policy returns the graph of who can reach what in the compiled policy
// prog, judging expiry at now, with the unikernel's readings of lists
// that the build lowered (see [Clients]): of the qubes that only names
// (qfw graph's --qube), or of every qube if it names none. A name of only
// that is not a qube of prog is an error.
func Policy(title string, prog *ir.Program, lowered map[string]*mirage.Lowering, only []string, now int64, describe DescribeRule) (*Graph, error) {
	var qs []*ir.Qube
	for i := range prog.Qubes {
		if len(only) == 0 || slices.Contains(only, prog.Qubes[i].Name) {
			qs = append(qs, &prog.Qubes[i])
		}
	}
	for _, name := range only {
		if !slices.ContainsFunc(qs, func(q *ir.Qube) bool { return q.Name == name }) {
			return nil, fmt.Errorf("--qube %q: no such qube in the policy", name)
		}
	}
	return New(title, Clients(prog, qs, lowered, now), describe), nil
}

// Title names the policy that args name, as qfw graph's arguments: a
// directory, files, or none for the working directory.
func Title(args []string) string {
	switch len(args) {
	case 0:
		return "Who can reach what: the policy in the working directory"
	case 1:
		return fmt.Sprintf("Who can reach what: the policy %s", args[0])
	}
	return fmt.Sprintf("Who can reach what: the policy %s and %d more files", args[0], len(args)-1)
}
