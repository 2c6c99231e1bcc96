package qrexecpolicy

import (
	"fmt"
	"strings"
)

// Action is what a rule does with the calls it matches.
type Action uint8

const (
	// Deny refuses the call.
	Deny Action = iota
	// Allow lets the call through, to its redirect target if it has one.
	Allow
)

func (a Action) String() string {
	if a == Allow {
		return "allow"
	}
	return "deny"
}

// AdminVM is the token for dom0 as a target; policy files may also write
// it dom0.
const AdminVM = "@adminvm"

// Rule is one line of a policy file:
//
//	SERVICE ARGUMENT SOURCE TARGET ACTION [PARAM=VALUE...]
type Rule struct {
	// Service is the service name, or "*" for every service.
	Service string
	// Arg is the argument with its leading "+" ("+" alone is the empty
	// argument), or "*" for any argument.
	Arg string
	// Source is the calling qube: a name, @anyvm, @tag:TAG or @type:CLASS.
	Source string
	// Target is the qube the caller names: a name, @adminvm (dom0),
	// @anyvm (every qube but dom0), @tag:TAG or @type:CLASS.
	Target string
	Action Action
	// Redirect is AdminVM for an allow rule with target=dom0, which sends
	// the call to dom0 whatever qube the caller named; empty otherwise.
	Redirect string
	// Notify is a deny rule's notify= parameter, yes or no; empty if not
	// given.
	Notify string
	// Line is the rule's line in its file, from 1; 0 for a rule made in
	// memory.
	Line int
}

// String returns the rule as a policy file line.
func (r Rule) String() string {
	return strings.Join([]string{r.Service, r.Arg, r.Source, r.Target, r.action()}, " ")
}

// action returns the rule's action with its parameters.
func (r Rule) action() string {
	s := r.Action.String()
	if r.Redirect != "" {
		s += " target=dom0"
	}
	if r.Notify != "" {
		s += " notify=" + r.Notify
	}
	return s
}

// Policy is the rules of a policy file, in order: the first that matches
// a call decides it.
type Policy struct {
	Rules []Rule
}

// Parse reads a policy file, named name in its errors. It takes the part
// of the format that a management qube's Admin API policy uses, and
// refuses the rest (includes, ask, dispvm targets and other parameters)
// rather than read it otherwise than dom0 would: rules of allow and
// deny, with the tokens of Rule, target=dom0 on allow and notify= on
// deny; comment lines start with "#".
func Parse(name string, data []byte) (*Policy, error) {
	p := &Policy{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		r, err := parseRule(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s", name, i+1, err)
		}
		r.Line = i + 1
		p.Rules = append(p.Rules, r)
	}
	return p, nil
}

func parseRule(line string) (Rule, error) {
	if line[0] == '!' {
		return Rule{}, fmt.Errorf("directive %q: only rules are read here, not includes", strings.Fields(line)[0])
	}
	f := strings.Fields(line)
	if len(f) < 5 {
		return Rule{}, fmt.Errorf("%d fields; a rule has service, argument, source, target and action", len(f))
	}
	r := Rule{Service: f[0], Arg: f[1]}
	if err := checkServiceArg(r.Service, r.Arg); err != nil {
		return Rule{}, err
	}
	var err error
	if r.Source, err = token("source", f[2]); err != nil {
		return Rule{}, err
	}
	if r.Source == AdminVM {
		// dom0's own calls are never checked against the policy.
		return Rule{}, fmt.Errorf("source %q: dom0's calls are not evaluated against the policy", f[2])
	}
	if r.Target, err = token("target", f[3]); err != nil {
		return Rule{}, err
	}
	switch f[4] {
	case "allow":
		r.Action = Allow
	case "deny":
		r.Action = Deny
	case "ask":
		return Rule{}, fmt.Errorf("action ask: it waits for a person in dom0, and is not read here")
	default:
		return Rule{}, fmt.Errorf("action %q: want allow or deny", f[4])
	}
	seen := map[string]bool{}
	for _, param := range f[5:] {
		k, v, ok := strings.Cut(param, "=")
		switch {
		case !ok:
			return Rule{}, fmt.Errorf("parameter %q: want NAME=VALUE", param)
		case seen[k]:
			return Rule{}, fmt.Errorf("parameter %s given twice", k)
		case r.Action == Allow && k == "target":
			if v != "dom0" && v != AdminVM {
				return Rule{}, fmt.Errorf("target=%s: only target=dom0 is read here, which Admin API calls need", v)
			}
			r.Redirect = AdminVM
		case r.Action == Deny && k == "notify":
			if v != "yes" && v != "no" {
				return Rule{}, fmt.Errorf("notify=%s: want yes or no", v)
			}
			r.Notify = v
		default:
			return Rule{}, fmt.Errorf("parameter %q of %s is not read here", param, r.Action)
		}
		seen[k] = true
	}
	if r.Action == Allow && r.Redirect == "" && r.Target != AdminVM {
		// The call would go to the qube named, which has no Admin API.
		return Rule{}, fmt.Errorf("allow without target=dom0 sends the call to qube %s, not to dom0's Admin API", r.Target)
	}
	return r, nil
}

// isRPCName reports whether s holds only the characters qrexec takes in
// service names and arguments: ASCII letters, digits, "+", "-", "." and
// "_".
func isRPCName(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("+-._", c) >= 0) {
			return false
		}
	}
	return true
}

func checkServiceArg(service, arg string) error {
	switch {
	case service == "":
		return fmt.Errorf("empty service")
	case service != "*" && (!isRPCName(service) || strings.Contains(service, "+")):
		return fmt.Errorf("service %q: want letters, digits, \"-\", \".\" and \"_\", or *", service)
	case arg == "*":
		return nil
	case service == "*":
		return fmt.Errorf("argument %q: only * goes with service *", arg)
	case !strings.HasPrefix(arg, "+") || !isRPCName(arg):
		return fmt.Errorf("argument %q: want + and the argument, or *", arg)
	}
	return nil
}

// token reads a source or target token, with dom0 read as @adminvm, as
// dom0's parser does.
func token(what, s string) (string, error) {
	if s == "dom0" {
		return AdminVM, nil
	}
	for _, prefix := range []string{"@tag:", "@type:"} {
		if v, ok := strings.CutPrefix(s, prefix); ok {
			if v == "" || !isRPCName(v) {
				return "", fmt.Errorf("%s %q: want %s and a name", what, s, prefix)
			}
			return s, nil
		}
	}
	switch {
	case s == "@anyvm", s == AdminVM:
		return s, nil
	case strings.HasPrefix(s, "@") || s == "*":
		return "", fmt.Errorf("%s %q is not read here: want a qube, @anyvm, @adminvm, @tag:TAG or @type:CLASS", what, s)
	case !isQubeName(s):
		return "", fmt.Errorf("%s %q is not a qube name", what, s)
	}
	return s, nil
}

// isQubeName reports whether s may name a qube: a letter, then at most
// 30 letters, digits, "_", "." and "-".
func isQubeName(s string) bool {
	if s == "" || len(s) > 31 || !('a' <= s[0] && s[0] <= 'z' || 'A' <= s[0] && s[0] <= 'Z') {
		return false
	}
	return isRPCName(s) && !strings.Contains(s, "+")
}
