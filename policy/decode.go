package policy

import (
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"github.com/qfw-dev/qfw/schema"
)

// topLevel lists the fields a policy may have at its top level.
var topLevel = map[string]bool{
	"schema": true, "networks": true, "services": true, "profiles": true,
	"qubes": true, "firewalls": true, "tests": true, "inventory": true,
}

// decode validates full (the user's value unified with the schema) part by
// part, and decodes the parts without errors from user, whose positions are
// the user's. Validating each qube on its own keeps an error in one qube
// from hiding the errors of another.
func (l *loader) decode(user, full cue.Value) (*Policy, errors.Error) {
	p := &Policy{}
	var errs errors.Error

	fields, err := user.Fields()
	if err != nil {
		return p, l.userErrors(err, user)
	}
	for fields.Next() {
		if name := fields.Selector().String(); !topLevel[name] {
			errs = errors.Append(errs, Errorf(fields.Value().Pos(), Path(name), "field not allowed"))
		}
	}

	for _, part := range []string{"schema", "networks", "services", "profiles", "firewalls", "tests"} {
		v := full.LookupPath(cue.ParsePath(part))
		if !v.Exists() {
			continue
		}
		opts := []cue.Option{cue.Concrete(true), cue.Final()}
		if part == "profiles" {
			// A profile may leave fields open for the qubes that use it.
			opts = []cue.Option{cue.Final()}
		}
		if err := v.Validate(opts...); err != nil {
			errs = errors.Append(errs, l.userErrors(err, user))
		}
	}

	qubes := full.LookupPath(cue.ParsePath("qubes"))
	if qubes.Exists() {
		iter, err := qubes.Fields()
		if err != nil {
			errs = errors.Append(errs, l.userErrors(err, user))
		} else {
			for iter.Next() {
				name := iter.Selector().Unquoted()
				var bad map[string]bool
				if err := iter.Value().Validate(cue.Concrete(true), cue.Final()); err != nil {
					qerrs := l.userErrors(err, user)
					errs = errors.Append(errs, qerrs)
					if bad = badRules(qerrs); bad == nil {
						continue
					}
				}
				q := l.decodeQube(name, user.LookupPath(cue.MakePath(cue.Str("qubes"), cue.Str(name))), bad)
				p.Qubes = append(p.Qubes, q)
			}
		}
	}
	sort.Slice(p.Qubes, func(i, j int) bool { return p.Qubes[i].Name < p.Qubes[j].Name })

	if errs == nil {
		p.Firewalls = decodeFirewalls(user.LookupPath(cue.ParsePath("firewalls")))
		p.Tests = decodeTests(user.LookupPath(cue.ParsePath("tests")))
	}
	return p, errs
}

// badRules returns the rules (as "allow.name" or "deny.name") that the
// errors of one qube are about, so that the qube's other rules can still be
// checked. It returns nil if an error is about the qube itself.
func badRules(qerrs errors.Error) map[string]bool {
	bad := map[string]bool{}
	for _, e := range errors.Errors(qerrs) {
		p := e.Path()
		if len(p) < 4 || (p[2] != "allow" && p[2] != "deny") {
			return nil
		}
		bad[p[2]+"."+unquote(p[3])] = true
	}
	return bad
}

// decodeQube decodes one qube, leaving out the rules in skip.
func (l *loader) decodeQube(name string, v cue.Value, skip map[string]bool) Qube {
	q := Qube{Name: name, Pos: v.Pos()}
	if n := v.LookupPath(cue.ParsePath("network")); n.Exists() {
		b, _ := n.Bool()
		q.NoNetwork = !b
	}
	for _, kind := range []string{"allow", "deny"} {
		rules := v.LookupPath(cue.ParsePath(kind))
		iter, err := rules.Fields()
		if err != nil {
			continue
		}
		for iter.Next() {
			ruleName := iter.Selector().Unquoted()
			if skip[kind+"."+ruleName] {
				continue
			}
			r := decodeRule(iter.Value())
			r.Deny = kind == "deny"
			r.Name = ruleName
			q.Rules = append(q.Rules, r)
		}
	}
	return q
}

func decodeRule(v cue.Value) Rule {
	r := Rule{Pos: v.Pos(), Priority: DefaultPriority}
	if to := v.LookupPath(cue.ParsePath("to")); to.Exists() {
		r.HasTo = true
		r.To = appendStrings(r.To, to)
	}
	if d := v.LookupPath(cue.ParsePath("dns")); d.Exists() {
		r.DNS, _ = d.Bool()
	}
	if s := v.LookupPath(cue.ParsePath("service")); s.Exists() {
		if s.Kind() == cue.ListKind {
			list, _ := s.List()
			for list.Next() {
				r.Services = append(r.Services, decodeService(list.Value()))
			}
		} else {
			r.Services = append(r.Services, decodeService(s))
		}
	}
	if own := decodeService(v); own.TCP != nil || own.UDP != nil || own.ICMP {
		own.Pos = r.Pos
		r.Services = append(r.Services, own)
	}
	if p := v.LookupPath(cue.ParsePath("priority")); p.Exists() {
		n, _ := p.Int64()
		r.Priority = int(n)
	}
	if e := v.LookupPath(cue.ParsePath("expire")); e.Exists() {
		r.Expire = String{S: scalarString(e), Pos: e.Pos()}
	}
	if c := v.LookupPath(cue.ParsePath("comment")); c.Exists() {
		s, _ := c.String()
		r.Comment, r.HasComment = String{S: s, Pos: c.Pos()}, true
	}
	return r
}

// appendStrings appends the strings of v: a string, or a list of strings
// and lists of strings.
func appendStrings(out []String, v cue.Value) []String {
	if v.Kind() != cue.ListKind {
		s, _ := v.String()
		return append(out, String{S: s, Pos: v.Pos()})
	}
	list, _ := v.List()
	for list.Next() {
		out = appendStrings(out, list.Value())
	}
	return out
}

func decodeService(v cue.Value) Service {
	s := Service{Pos: v.Pos()}
	s.TCP = scalars(v.LookupPath(cue.ParsePath("tcp")))
	s.UDP = scalars(v.LookupPath(cue.ParsePath("udp")))
	if icmp := v.LookupPath(cue.ParsePath("icmp")); icmp.Exists() {
		s.ICMP = true
		if icmp.Kind() == cue.ListKind {
			list, _ := icmp.List()
			for list.Next() {
				n, _ := list.Value().Int64()
				s.ICMPTypes = append(s.ICMPTypes, Int{N: n, Pos: list.Value().Pos()})
			}
			if s.ICMPTypes == nil {
				// An empty list is kept apart from "every type" by a
				// non-nil empty slice.
				s.ICMPTypes = []Int{}
			}
		}
	}
	return s
}

// scalars returns the elements of list v, numbers and strings alike, as
// they were written: nil if v does not exist, and an empty, non-nil slice
// for an empty list, which matches nothing rather than everything.
func scalars(v cue.Value) []String {
	if !v.Exists() {
		return nil
	}
	list, _ := v.List()
	out := []String{}
	for list.Next() {
		out = append(out, String{S: scalarString(list.Value()), Pos: list.Value().Pos()})
	}
	return out
}

func scalarString(v cue.Value) string {
	if v.Kind() == cue.IntKind {
		n, _ := v.Int64()
		return strconv.FormatInt(n, 10)
	}
	s, _ := v.String()
	return s
}

func decodeFirewalls(v cue.Value) []Firewall {
	var out []Firewall
	iter, err := v.Fields()
	if err != nil {
		return nil
	}
	for iter.Next() {
		fv := iter.Value()
		f := Firewall{Name: iter.Selector().Unquoted(), Pos: fv.Pos()}
		b := fv.LookupPath(cue.ParsePath("backend"))
		if b.Kind() == cue.StringKind {
			f.Backend, _ = b.String()
		} else {
			f.Backend = "mirage"
			f.MirageVersion, _ = b.LookupPath(cue.ParsePath("mirage.version")).String()
			f.KernelSHA256, _ = b.LookupPath(cue.ParsePath("mirage.kernel.sha256")).String()
			f.KernelPath, _ = b.LookupPath(cue.ParsePath("mirage.kernel.path")).String()
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func decodeTests(v cue.Value) []Test {
	var out []Test
	list, err := v.List()
	if err != nil {
		return nil
	}
	for list.Next() {
		tv := list.Value()
		t := Test{Pos: tv.Pos()}
		t.From, _ = tv.LookupPath(cue.ParsePath("from")).String()
		t.To, _ = tv.LookupPath(cue.ParsePath("to")).String()
		t.Proto, _ = tv.LookupPath(cue.ParsePath("proto")).String()
		t.Expect, _ = tv.LookupPath(cue.ParsePath("expect")).String()
		if p := tv.LookupPath(cue.ParsePath("port")); p.Exists() {
			n, _ := p.Int64()
			t.Port, t.HasPort = int(n), true
		}
		if p := tv.LookupPath(cue.ParsePath("icmp")); p.Exists() {
			n, _ := p.Int64()
			t.ICMP, t.HasICMP = int(n), true
		}
		out = append(out, t)
	}
	return out
}

// userErrors turns CUE's errors into errors at the user's positions: the
// schema's positions are dropped, and an error that has only those (a
// required field that is missing) moves to the nearest value that the user
// wrote. Of the errors CUE reports for a failed disjunction, only the
// clearest is kept, so that one mistake gives one message.
func (l *loader) userErrors(err error, user cue.Value) errors.Error {
	all := errors.Errors(err)
	paths := make([][]string, len(all))
	byPath := map[string][]int{}
	for i, e := range all {
		paths[i] = e.Path()
		// Errors found through the schema's #Policy carry its name.
		if len(paths[i]) > 0 && paths[i][0] == "#Policy" {
			paths[i] = paths[i][1:]
		}
		key := strings.Join(paths[i], ".")
		byPath[key] = append(byPath[key], i)
	}
	var out errors.Error
	seen := map[string]bool{}
	for i, e := range all {
		path := strings.Join(paths[i], ".")
		if !clearest(all, byPath[path], i) {
			continue
		}
		format, args := e.Msg()
		pos := userPos(errors.Positions(e))
		if !pos.IsValid() {
			pos = nearestPos(user, paths[i])
		}
		ue := &posError{pos: pos, path: paths[i], format: format, args: args}
		if key := ue.Error(); !seen[key] {
			seen[key] = true
			out = errors.Append(out, ue)
		}
	}
	return out
}

// clearest reports whether error i is the one to show of the errors group
// that CUE reports for one path. A failed disjunction gives a summary and
// one error per alternative; the alternatives' type mismatches say least,
// so the first error that is neither is kept, or else the first mismatch.
// One error per path is enough: the rest restate it from the other side.
func clearest(all []errors.Error, group []int, i int) bool {
	if len(group) == 1 {
		return true
	}
	rank := func(j int) int {
		format, _ := all[j].Msg()
		switch {
		case strings.Contains(format, "errors in empty disjunction"):
			return 2
		case strings.Contains(format, "mismatched types"):
			return 1
		}
		return 0
	}
	best := group[0]
	for _, j := range group {
		if rank(j) < rank(best) {
			best = j
		}
	}
	return i == best
}

// userPos returns the first position that is in a file of the user's.
func userPos(ps []token.Pos) token.Pos {
	for _, p := range ps {
		if isUserFile(p.Filename()) {
			return p
		}
	}
	return token.NoPos
}

func isUserFile(name string) bool {
	return name != "" && name != schema.Filename && filepath.Base(name) != inventoryOverlay
}

// nearestPos returns the position of the value at path in v or, if the user
// wrote none there, of its nearest ancestor.
func nearestPos(v cue.Value, path []string) token.Pos {
	for n := len(path); n > 0; n-- {
		sels := make([]cue.Selector, n)
		for i, s := range path[:n] {
			s = unquote(s)
			if idx, err := strconv.Atoi(s); err == nil {
				sels[i] = cue.Index(idx)
			} else {
				sels[i] = cue.Str(s)
			}
		}
		if p := v.LookupPath(cue.MakePath(sels...)).Pos(); isUserFile(p.Filename()) {
			return p
		}
	}
	return token.NoPos
}

// unquote returns the field name that a path element stands for.
func unquote(elem string) string {
	if u, err := strconv.Unquote(elem); err == nil {
		return u
	}
	return elem
}
