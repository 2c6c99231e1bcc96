package agent

import (
	"net/netip"
	"runtime"
	"slices"

	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/par"
)

// minPart is the fewest rules that parseList gives a processor: below it,
// starting the work costs more than sharing it saves.
const minPart = 1000

// parseList parses list, the keys under /qubes-firewall/<addr>/, as
// [qubes.ParseQubesDBList] does, a long list in parts on every processor:
// parsing is most of the work of a commit of thousands of rules, and its
// read and lowering do not wait on one another's parts.
//
// A part is a run of the rule keys with the policy key: parsed alone, it
// gives its rules and the policy; the parts' rules in order, and the
// policy once, are the list's. That holds for keys in strictly ascending
// order, as QubesDB answers, with their policy; for anything else, and
// for any part that fails, the whole list is parsed as one, so that a
// list that does not parse is refused with the error it gives as a whole.
func parseList(addr netip.Addr, list []qubes.Entry) ([]ir.Rule, error) {
	n := min(runtime.GOMAXPROCS(0), len(list)/minPart)
	policyPath := ir.QubesDBDir(addr) + "/policy"
	policy := slices.IndexFunc(list, func(e qubes.Entry) bool { return e.Path == policyPath })
	if n < 2 || policy < 0 || !ascending(list) {
		return qubes.ParseQubesDBList(addr, list)
	}
	rules := slices.Delete(slices.Clone(list), policy, policy+1)
	parts := make([][]ir.Rule, n)
	failed := make([]bool, n)
	par.Each(n, func(i int) {
		part := append(slices.Clone(rules[i*len(rules)/n:(i+1)*len(rules)/n]), list[policy])
		var err error
		parts[i], err = qubes.ParseQubesDBList(addr, part)
		failed[i] = err != nil
	})
	if slices.Contains(failed, true) {
		return qubes.ParseQubesDBList(addr, list)
	}
	out := make([]ir.Rule, 0, len(rules)+1)
	for _, p := range parts {
		out = append(out, p[:len(p)-1]...)
	}
	return append(out, parts[n-1][len(parts[n-1])-1]), nil
}

// ascending reports whether the paths of list are in strictly ascending
// order: sorted, and none twice.
func ascending(list []qubes.Entry) bool {
	for i := 1; i < len(list); i++ {
		if list[i-1].Path >= list[i].Path {
			return false
		}
	}
	return true
}
