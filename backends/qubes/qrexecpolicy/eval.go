package qrexecpolicy

import (
	"slices"
	"strings"
)

// Qube is what evaluation knows of a qube.
type Qube struct {
	Class string
	Tags  []string
}

// Call is one qrexec call, as a management qube makes it.
type Call struct {
	Service string
	// Arg is the argument, without the "+"; empty for none.
	Arg string
	// Source is the calling qube.
	Source string
	// Target is the qube the caller names: dom0 for a global call.
	Target string
}

// Decision is the policy's answer to a call.
type Decision struct {
	Allowed bool
	// Rule is the rule that decided, nil when none matched (or the target
	// does not exist), which refuses the call.
	Rule *Rule
}

// Evaluate decides c as dom0 does: the first rule that matches its
// service, argument, source and target decides it, and a call no rule
// matches, or that names a qube that does not exist, is refused. qubes
// holds every qube by name, dom0 among them; tags and classes are read
// from it at the time of the call. A nil policy refuses every call.
func (p *Policy) Evaluate(c Call, qubes map[string]Qube) Decision {
	if p == nil {
		return Decision{}
	}
	target := c.Target
	if target == "dom0" {
		target = AdminVM
	}
	if _, ok := qubes[target]; !ok && target != AdminVM {
		return Decision{}
	}
	arg := "+" + c.Arg
	for i := range p.Rules {
		r := &p.Rules[i]
		if (r.Service == "*" || r.Service == c.Service) &&
			(r.Arg == "*" || r.Arg == arg) &&
			matches(r.Source, c.Source, qubes) &&
			matches(r.Target, target, qubes) {
			return Decision{Allowed: r.Action == Allow, Rule: r}
		}
	}
	return Decision{}
}

// matches reports whether token matches the qube name (or @adminvm for
// dom0). @anyvm, @tag: and @type: never match dom0: only @adminvm (or
// its name) does.
func matches(token, name string, qubes map[string]Qube) bool {
	if v, ok := strings.CutPrefix(token, "@tag:"); ok {
		q, exists := qubes[name]
		return exists && slices.Contains(q.Tags, v)
	}
	if v, ok := strings.CutPrefix(token, "@type:"); ok {
		q, exists := qubes[name]
		return exists && q.Class == v
	}
	if token == "@anyvm" {
		return name != AdminVM
	}
	return token == name
}
