package policy

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"github.com/qfw-dev/qfw/internal/words"
	"github.com/qfw-dev/qfw/schema"
)

// decode checks the user's value against the schema part by part, and
// decodes the parts without errors. The positions of user are the user's.
// Checking each part, and each qube, on its own keeps an error in one from
// hiding the errors of another.
//
// The schema is unified with each part except qubes, which hold nearly all
// of a policy: unifying them with #Qube would evaluate them a second time,
// so their shape is checked in Go while they are decoded.
func (l *loader) decode(user cue.Value) (*Policy, errors.Error) {
	p := &Policy{}
	var errs errors.Error
	// report adds errors, once each: a mistake in a profile is found again
	// in every qube that uses it, at the same place.
	seen := map[string]bool{}
	// cuePos holds the positions CUE's errors are at: qfw's own check of a
	// value CUE already found wrong (in a profile, say) would only say it
	// again.
	cuePos := map[token.Pos]bool{}
	cuePath := map[string]bool{}
	report := func(more errors.Error) {
		for _, e := range errors.Errors(more) {
			format, args := e.Msg()
			key := e.Position().String() + ": " + fmt.Sprintf(format, args...)
			if !seen[key] {
				seen[key] = true
				errs = errors.Append(errs, e)
			}
		}
	}
	reportCUE := func(more errors.Error) {
		for _, e := range errors.Errors(more) {
			cuePos[e.Position()] = true
			for _, p := range e.InputPositions() {
				cuePos[p] = true
			}
			cuePath[strings.Join(e.Path(), ".")] = true
		}
		report(more)
	}

	fields, err := user.Fields(cue.Optional(true))
	if err != nil {
		return p, l.userErrors(err, user)
	}
	allowed := l.topLevelFields()
	for fields.Next() {
		name := fields.Selector().Unquoted()
		switch {
		case !allowed[name]:
			format, args := notAllowed(name, slices.Sorted(maps.Keys(allowed)))
			report(Errorf(fields.Value().Pos(), Path(name), format, args...))
		case fields.IsOptional() && carriesValue(fields.Value()):
			report(Errorf(fields.Value().Pos(), Path(name), optionalMsg, name))
		}
	}

	// An optional entry of a map would be left out without a word.
	for _, part := range []string{"networks", "services", "firewalls", "resolve"} {
		iter, err := user.LookupPath(cue.MakePath(cue.Str(part))).Fields(cue.Optional(true))
		for err == nil && iter.Next() {
			if iter.IsOptional() && carriesValue(iter.Value()) {
				name := iter.Selector().Unquoted()
				report(Errorf(iter.Value().Pos(), Path(part, name), optionalMsg, name))
			}
		}
	}

	// Each part is validated, and decoded if it has no errors, on its own.
	valid := map[string]bool{}
	for _, part := range []string{"schema", "networks", "services", "profiles", "firewalls", "tests", "resolve"} {
		u := user.LookupPath(cue.MakePath(cue.Str(part)))
		if !u.Exists() {
			continue
		}
		if part == "networks" && networksWellFormed(u) {
			// Unifying a long list with the schema's [...#Dest] costs CUE
			// time that grows with the square of the list's length, as
			// evaluating it did once already; the shape is checked here
			// instead, and the schema is left to say what is wrong.
			valid[part] = true
			continue
		}
		v := l.schema.LookupPath(cue.MakePath(cue.Def("#Policy"), cue.Str(part).Optional())).Unify(u)
		opts := []cue.Option{cue.Concrete(true), cue.Final()}
		if part == "profiles" {
			// A profile may leave fields open for the qubes that use it.
			opts = []cue.Option{cue.Final()}
		}
		// A firewall's name that Qubes refuses is "not allowed" to CUE,
		// which cannot say why.
		badName := map[string]bool{}
		if part == "firewalls" {
			iter, err := u.Fields(cue.Optional(true))
			for err == nil && iter.Next() {
				if name := iter.Selector().Unquoted(); !IsQubeName(name) {
					badName[name] = true
					format, args := qubeNameMsg(name)
					report(Errorf(iter.Value().Pos(), Path(part, name), format, args...))
				}
			}
		}
		if err := v.Validate(opts...); err != nil {
			var keep errors.Error
			for _, e := range errors.Errors(l.userErrors(err, user)) {
				if p := e.Path(); len(p) < 2 || !badName[unquote(p[1])] {
					keep = errors.Append(keep, e)
				}
			}
			reportCUE(keep)
			continue
		}
		if len(badName) == 0 {
			valid[part] = true
		}
	}

	d := decoder{user: user}
	qubes := user.LookupPath(cue.MakePath(cue.Str("qubes")))
	// An empty directory, or files that hold nothing, would compile to
	// nothing and plan no change: a policy that names no qube is most
	// likely not the one meant. (Unless an error says why.)
	noQube := !namesQube(qubes) && !namesQube(user.LookupPath(cue.MakePath(cue.Str("firewalls"))))
	if qubes.Exists() {
		iter, err := structFields(qubes)
		switch {
		case qubes.Err() != nil:
			reportCUE(l.userErrors(qubes.Err(), user))
		case err != nil:
			d.fail(qubes, "qubes must be a struct of qubes keyed by name, such as qubes: work: {...}")
		}
		for err == nil && iter.Next() {
			name, absent := d.absent(iter)
			if absent {
				continue
			}
			qv := iter.Value()
			if !IsQubeName(name) {
				// (CUE gives no path to a value under an empty name.)
				format, args := qubeNameMsg(name)
				d.errs = errors.Append(d.errs, Errorf(qv.Pos(), Path("qubes", name), format, args...))
				continue
			}
			// The qube's shape is checked even when CUE found errors in
			// it, so that one run reports every mistake; rules with errors
			// are left out, and so is the qube if an error is about it.
			var bad map[string]bool
			qubeOK := true
			if err := qv.Validate(cue.Concrete(true), cue.Final()); err != nil {
				qerrs := l.userErrors(err, user)
				reportCUE(qerrs)
				bad = badRules(qerrs)
				qubeOK = bad != nil
			}
			if q, ok := d.decodeQube(name, qv, bad); ok && qubeOK {
				p.Qubes = append(p.Qubes, q)
			}
		}
	}
	sort.Slice(p.Qubes, func(i, j int) bool { return p.Qubes[i].Name < p.Qubes[j].Name })
	for _, e := range errors.Errors(d.errs) {
		if !cuePos[e.Position()] && !cuePath[strings.Join(e.Path(), ".")] {
			report(e)
		}
	}

	if noQube && errs == nil {
		report(Errorf(token.NoPos, "", "the policy names no qube: write qubes: NAME: {...} for each qube it manages, or firewalls: NAME: {...} for a firewall qube"))
	}
	if valid["firewalls"] {
		p.Firewalls = decodeFirewalls(user.LookupPath(cue.MakePath(cue.Str("firewalls"))))
	}
	if valid["tests"] {
		p.Tests = decodeTests(user.LookupPath(cue.MakePath(cue.Str("tests"))))
	}
	if valid["resolve"] {
		p.Resolve = decodeResolve(user.LookupPath(cue.MakePath(cue.Str("resolve"))))
	}
	return p, errs
}

// namesQube reports whether v, the policy's qubes or firewalls, names at
// least one qube, even one in error.
func namesQube(v cue.Value) bool {
	if !v.Exists() {
		return false
	}
	iter, err := structFields(v)
	return err != nil || iter.Next()
}

// The fields of a qube, a rule and a service, as the schema's #Qube, #Rule
// and #Service give them (TestFieldListsMatchSchema holds them to it).
var (
	qubeFields    = []string{"ack", "allow", "deny", "network"}
	ruleFields    = []string{"ack", "comment", "dns", "expire", "icmp", "icmpv6", "priority", "service", "shadowed", "tcp", "to", "udp"}
	serviceFields = []string{"icmp", "icmpv6", "tcp", "udp"}
)

// notAllowed is the error of a field the schema lacks, naming the field
// meant when the two differ in case alone.
func notAllowed(name string, known []string) (string, []any) {
	for _, k := range known {
		if strings.EqualFold(k, name) {
			return "field not allowed; the field is %q", []any{k}
		}
	}
	return "field not allowed", nil
}

// topLevelFields returns the fields the schema allows at the top level of
// a policy.
func (l *loader) topLevelFields() map[string]bool {
	out := map[string]bool{}
	iter, err := l.schema.LookupPath(cue.ParsePath("#Policy")).Fields(cue.Optional(true))
	if err != nil {
		panic("qfw: embedded schema has no #Policy: " + err.Error())
	}
	for iter.Next() {
		out[iter.Selector().Unquoted()] = true
	}
	return out
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

// decoder decodes rules, checking the shapes of the fields that the schema
// leaves open.
type decoder struct {
	// user is the user's whole value, for positions.
	user cue.Value
	errs errors.Error
	ok   bool // false once the current rule has an error
	// moved holds the positions errors were moved to from outside the
	// user's files: one error there is enough.
	moved map[token.Pos]bool
	// at is the rule, or else the qube, being decoded: its position is
	// where an error about a value taken from the inventory goes.
	at cue.Value
	// rules collects the rules of the qube being decoded, so that its
	// list is made once, at its size.
	rules []Rule
}

// fail reports a mistake in the value v, at the value as the user wrote
// it. A value CUE found in error is CUE's to report.
func (d *decoder) fail(v cue.Value, format string, args ...any) {
	d.ok = false
	if v.Err() != nil {
		return
	}
	d.report(v, valuePos(v), format, args...)
}

// valuePos returns the position of v as the user wrote it: that of its
// value rather than of its field's name.
func valuePos(v cue.Value) token.Pos {
	if f, ok := v.Source().(*ast.Field); ok && f.Value != nil && f.Value.Pos().IsValid() {
		return f.Value.Pos()
	}
	return v.Pos()
}

// failField reports a mistake in the field that holds v, at its name.
func (d *decoder) failField(v cue.Value, format string, args ...any) {
	d.ok = false
	d.report(v, v.Pos(), format, args...)
}

// report adds an error about v at pos, or, if pos is not in the user's
// files, at the nearest thing the user wrote.
func (d *decoder) report(v cue.Value, pos token.Pos, format string, args ...any) {
	path := cue.MakePath(v.Path().Selectors()...)
	if !isUserFile(pos.Filename()) {
		// A value from the inventory, put where a qube or rule goes.
		var elems []string
		for _, s := range path.Selectors() {
			elems = append(elems, s.String())
		}
		pos = nearestPos(d.user, elems)
		if !pos.IsValid() {
			// A value whose path is the inventory's own: the rule, or
			// the qube, being decoded is where the user put it.
			pos = d.at.Pos()
		}
		if d.moved == nil {
			d.moved = map[token.Pos]bool{}
		}
		if d.moved[pos] {
			return
		}
		d.moved[pos] = true
	}
	d.errs = errors.Append(d.errs, Errorf(pos, path.String(), format, args...))
}

// absent reports, and returns true for, a field of iter that is not
// there: an optional field that holds a value (CUE leaves it out, and a
// rule or qube would be lost without a word), or a required one that is
// missing. An optional field with a type alone, as in a user's
// definition, says nothing and is skipped. It returns the field's name
// too: each call of Selector makes a new one.
func (d *decoder) absent(iter *cue.Iterator) (name string, absent bool) {
	sel := iter.Selector()
	switch {
	case sel.Type()&(cue.HiddenLabel|cue.HiddenDefinitionLabel) != 0:
		// A hidden field would be ignored: a user who wrote _deny
		// expects a rule.
		d.failField(iter.Value(), "%s is a hidden field, which qfw would ignore: no name of a qube, rule or service field starts with \"_\"", sel.String())
		return "", true
	case sel.IsDefinition():
		d.failField(iter.Value(), "%s is a definition, which qfw would ignore: define it outside qubes", sel.String())
		return "", true
	}
	if sel.Type()&cue.StringLabel == 0 {
		// An index: CUE iterates a list in error as if it were a
		// struct. The list's own error is CUE's to report.
		return "", true
	}
	name = sel.Unquoted()
	switch sel.ConstraintType() {
	case cue.OptionalConstraint:
		if v := iter.Value(); carriesValue(v) {
			d.failField(v, optionalMsg, name)
		}
		return name, true
	case cue.RequiredConstraint:
		d.failField(iter.Value(), "%s is required (\"!\") but not given", name)
		return name, true
	}
	return name, false
}

// withDefault returns v's default, if it has one, and v otherwise: the
// default stands for the value, as it does in cue export. (Default itself
// returns a referenced value, with the reference's position, even without
// one.)
func withDefault(v cue.Value) cue.Value {
	if d, ok := v.Default(); ok {
		return d
	}
	return v
}

// structFields iterates the fields of v, optional, hidden and definition
// ones included. (It also
// iterates the indices of a list in error: see absent.)
func structFields(v cue.Value) (*cue.Iterator, error) {
	// Asked for hidden fields, CUE iterates a scalar as an empty struct:
	// whether v is a struct is asked without them. A concrete struct, as
	// nearly every value here is, needs no asking: listing its fields
	// twice would double the cost of each rule.
	if v.Kind() != cue.StructKind {
		if _, err := v.Fields(cue.Optional(true)); err != nil {
			return nil, err
		}
	}
	return v.Fields(cue.Optional(true), cue.Hidden(true), cue.Definitions(true))
}

// optionalMsg is the error of an optional field that holds a value.
const optionalMsg = `%s is optional ("?"), so it would be left out; write it without "?"`

// carriesValue reports whether v holds something a policy would act on: a
// concrete value, or a struct or list with something in it.
func carriesValue(v cue.Value) bool {
	if !v.IsConcrete() {
		return false
	}
	switch v.Kind() {
	case cue.StructKind:
		iter, err := v.Fields()
		return err == nil && iter.Next()
	case cue.ListKind:
		n, err := v.Len().Int64()
		return err == nil && n > 0
	}
	return true
}

// decodeQube decodes one qube, leaving out the rules in skip and those
// with errors. It checks the qube's shape, #Qube in the schema; ok is false
// if that is wrong.
func (d *decoder) decodeQube(name string, v cue.Value, skip map[string]bool) (q Qube, ok bool) {
	q = Qube{Name: name, Pos: v.Pos()}
	d.at = v
	fields, err := structFields(v)
	if err != nil {
		d.fail(v, "a qube is a struct such as {allow: web: {to: \"any\"}}")
		return q, false
	}
	ok = true
	d.rules = d.rules[:0]
	for fields.Next() {
		kind, absent := d.absent(fields)
		if absent {
			continue
		}
		f := fields.Value()
		switch kind {
		case "network":
			b, err := f.Bool()
			if err != nil {
				d.fail(f, "network must be true or false")
				ok = false
			}
			q.NoNetwork = !b
		case "ack":
			q.Acks = d.acks(f, "a qube", QubeAckKinds)
		case "allow", "deny":
			rules, err := structFields(f)
			if err != nil {
				d.fail(f, "%s holds rules keyed by name, such as %s: web: {to: \"any\"}", kind, kind)
				ok = false
				continue
			}
			for rules.Next() {
				ruleName, absent := d.absent(rules)
				if absent {
					continue
				}
				if !IsRuleName(ruleName) {
					d.errs = errors.Append(d.errs, Errorf(rules.Value().Pos(), Path("qubes", name, kind, ruleName),
						"%q is not a rule name: one that starts with a letter or digit, then letters, digits, '_', '.' and '-'", ruleName))
					ok = false
					continue
				}
				// A rule CUE found errors in is still checked, and left out.
				r, ruleOK := d.decodeRule(rules.Value())
				if !ruleOK || skip != nil && skip[kind+"."+ruleName] {
					continue
				}
				r.Deny = kind == "deny"
				r.Name = ruleName
				d.rules = append(d.rules, r)
			}
		default:
			format, args := notAllowed(kind, qubeFields)
			d.failField(f, format, args...)
			ok = false
		}
	}
	if len(d.rules) > 0 {
		q.Rules = slices.Clone(d.rules)
	}
	return q, ok
}

// decodeRule decodes one rule, checking it against the shape of the
// schema's #Rule. Walking its fields once costs less than looking up each
// field that a rule may have.
func (d *decoder) decodeRule(v cue.Value) (Rule, bool) {
	d.ok = true
	r := Rule{Pos: v.Pos(), Priority: DefaultPriority}
	if isUserFile(r.Pos.Filename()) {
		d.at = v
	}
	own := Service{Pos: r.Pos}
	fields, err := structFields(v)
	if err != nil {
		d.fail(v, "a rule is a struct such as {to: \"any\"}")
		return r, false
	}
	for fields.Next() {
		name, absent := d.absent(fields)
		if absent {
			continue
		}
		// A default stands for the value, as it does in cue export.
		f := withDefault(fields.Value())
		switch name {
		case "to":
			r.HasTo = true
			r.To = d.destinations(r.To, f, 0)
		case "dns":
			if b, err := f.Bool(); err != nil || !b {
				d.fail(f, "dns must be true, for the qube's DNS servers, or left out")
			}
			r.DNS = true
		case "service":
			r.HasService = true
			r.Services = d.services(r.Services, f)
		case "priority":
			n, err := f.Int64()
			if err != nil || n < 0 || n > MaxPriority {
				d.fail(f, "priority must be a whole number from 0 to %d", MaxPriority)
			}
			r.Priority = int(n)
		case "expire":
			if k := f.Kind(); k != cue.StringKind && k != cue.IntKind {
				d.fail(f, "expire must be an RFC 3339 time or UNIX seconds")
			}
			r.Expire = String{S: scalarString(f), Pos: f.Pos()}
		case "comment":
			c, err := f.String()
			if err != nil {
				d.fail(f, "comment must be a string")
			}
			r.Comment, r.HasComment = String{S: c, Pos: f.Pos()}, true
		case "shadowed":
			if b, err := f.Bool(); err != nil || !b {
				d.fail(f, "shadowed must be true, for a rule known never to take effect, or left out")
			}
			r.Shadowed = true
		case "ack":
			r.Acks = d.acks(f, "a rule", AckKinds)
		case "tcp", "udp", "icmp", "icmpv6":
			d.serviceField(&own, name, f)
		default:
			format, args := notAllowed(name, ruleFields)
			d.failField(f, format, args...)
		}
	}
	if own.TCP != nil || own.UDP != nil || own.AllTCP || own.AllUDP || own.ICMP || own.ICMPv6Types != nil {
		r.HasService = true
		r.Services = append(r.Services, own)
	}
	return r, d.ok
}

// acks decodes v, the ack field of what (a rule or a qube): a list of the
// kinds of warning it acknowledges, of kinds, each once.
func (d *decoder) acks(v cue.Value, what string, kinds []Kind) []String {
	list, err := v.List()
	if err != nil {
		d.fail(v, "ack must be a list of warning kinds, such as [%q]", kinds[0])
		return nil
	}
	var out []String
	for list.Next() {
		e := withDefault(list.Value())
		s, err := e.String()
		switch {
		case err != nil:
			d.fail(e, "ack holds warning kinds, which are strings such as %q", kinds[0])
			continue
		case !slices.Contains(kinds, Kind(s)):
			d.fail(e, "%q is not a kind of warning %s can acknowledge: %s", s, what, kindList(kinds))
			continue
		}
		for _, prev := range out {
			if prev.S == s {
				d.fail(e, "ack names %q twice", s)
			}
		}
		out = append(out, String{S: s, Pos: valuePos(e)})
	}
	return out
}

// kindList returns kinds as a message lists them.
func kindList(kinds []Kind) string {
	quoted := make([]string, len(kinds))
	for i, k := range kinds {
		quoted[i] = strconv.Quote(string(k))
	}
	return words.Or(quoted)
}

// services appends the services of v, the service field of a rule: a
// service, or a list of them.
func (d *decoder) services(out []Service, v cue.Value) []Service {
	switch v.Kind() {
	case cue.StructKind:
		return append(out, d.service(v))
	case cue.ListKind:
		list, _ := v.List()
		for list.Next() {
			if e := withDefault(list.Value()); e.Kind() == cue.StructKind {
				out = append(out, d.service(e))
			} else {
				d.fail(e, "a service is a struct such as {tcp: [443]}")
			}
		}
	default:
		d.fail(v, "service must be a service or a list of services")
	}
	return out
}

// destinations appends the destinations of v: a string, or a list of
// strings and lists of strings.
func (d *decoder) destinations(out []String, v cue.Value, depth int) []String {
	v = withDefault(v)
	switch {
	case v.Kind() == cue.StringKind:
		s, _ := v.String()
		return append(out, String{S: s, Pos: v.Pos()})
	case v.Kind() == cue.ListKind && depth < 2:
		list, _ := v.List()
		for list.Next() {
			out = d.destinations(out, list.Value(), depth+1)
		}
		return out
	case depth == 0:
		d.fail(v, "to must be \"any\", a destination, or a list of destinations and lists of them")
	default:
		d.fail(v, "a destination is a string: an address, a prefix or a host name")
	}
	return out
}

// service decodes a service written in a rule's service field. The schema
// leaves that field open, so its fields are checked here.
func (d *decoder) service(v cue.Value) Service {
	s := Service{Pos: v.Pos()}
	fields, err := structFields(v)
	if err != nil {
		d.fail(v, "a service is a struct such as {tcp: [443]}")
		return s
	}
	for fields.Next() {
		name, absent := d.absent(fields)
		if absent {
			continue
		}
		switch name {
		case "tcp", "udp", "icmp", "icmpv6":
			f := withDefault(fields.Value())
			d.serviceField(&s, name, f)
		default:
			format, args := notAllowed(name, serviceFields)
			d.failField(fields.Value(), format, args...)
		}
	}
	return s
}

// serviceField decodes field name (tcp, udp, icmp or icmpv6) of a service.
func (d *decoder) serviceField(s *Service, name string, f cue.Value) {
	switch name {
	case "tcp":
		s.TCP, s.AllTCP = d.ports(f)
	case "udp":
		s.UDP, s.AllUDP = d.ports(f)
	case "icmp":
		s.ICMP = true
		switch f.Kind() {
		case cue.BoolKind:
			if b, _ := f.Bool(); !b {
				d.fail(f, "icmp must be true (every type) or a list of ICMP types")
			}
		case cue.ListKind:
			s.ICMPTypes = d.icmpTypes(f)
		default:
			d.fail(f, "icmp must be true (every type) or a list of ICMP types")
		}
	case "icmpv6":
		if f.Kind() != cue.ListKind {
			d.fail(f, "icmpv6 must be a list of ICMPv6 types")
			return
		}
		s.ICMPv6Types = d.icmpTypes(f)
	}
}

// icmpTypes returns the types of list f. An empty list gives an empty,
// non-nil slice, which matches nothing rather than every type.
func (d *decoder) icmpTypes(f cue.Value) []Int {
	out := []Int{}
	list, _ := f.List()
	for list.Next() {
		e := list.Value()
		n, err := e.Int64()
		if err != nil {
			d.fail(e, "an ICMP type is a number from 0 to 255")
			continue
		}
		out = append(out, Int{N: n, Pos: e.Pos()})
	}
	return out
}

// ports returns the ports of v, a tcp or udp field: true for every port,
// or a list of ports as they were written, numbers and ranges alike. An
// empty list gives an empty, non-nil slice, which matches nothing rather
// than everything.
func (d *decoder) ports(v cue.Value) (ports []String, all bool) {
	out := []String{}
	if v.Kind() == cue.BoolKind {
		if b, _ := v.Bool(); b {
			return nil, true
		}
	}
	list, err := v.List()
	if err != nil {
		d.fail(v, "ports are true (every port) or a list of numbers and \"first-last\" ranges")
		return out, false
	}
	for list.Next() {
		e := list.Value()
		if k := e.Kind(); k != cue.IntKind && k != cue.StringKind {
			d.fail(e, "a port is a number or a \"first-last\" range")
			continue
		}
		out = append(out, String{S: scalarString(e), Pos: e.Pos()})
	}
	return out, false
}

func scalarString(v cue.Value) string {
	if v.Kind() == cue.IntKind {
		if n, err := v.Int64(); err == nil {
			return strconv.FormatInt(n, 10)
		}
		// Any size: a port past int64 is refused as the user wrote it.
		if n, err := v.Int(nil); err == nil {
			return n.String()
		}
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
			kp := b.LookupPath(cue.ParsePath("mirage.kernel.path"))
			f.KernelPath, _ = kp.String()
			if f.KernelPath != "" && !filepath.IsAbs(f.KernelPath) && isUserFile(kp.Pos().Filename()) {
				// A relative path is the file's that writes it, as
				// inventory.json is found beside the policy.
				f.KernelPath = filepath.Join(filepath.Dir(kp.Pos().Filename()), f.KernelPath)
			}
			f.KernelDir, _ = b.LookupPath(cue.ParsePath("mirage.kernel.dir")).String()
			f.MirageNetvm, _ = b.LookupPath(cue.ParsePath("mirage.netvm")).String()
			f.MirageLabel, _ = b.LookupPath(cue.ParsePath("mirage.label")).String()
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
		t := Test{Index: len(out), Pos: tv.Pos()}
		fields, _ := tv.Fields()
		for fields.Next() {
			f := fields.Value()
			switch fields.Selector().Unquoted() {
			case "from":
				t.From = stringOf(f)
			case "to":
				t.To = stringOf(f)
			case "proto":
				t.Proto = stringOf(f)
			case "expect":
				t.Expect = stringOf(f)
			case "port":
				t.Port, t.HasPort = intOf(f), true
			case "icmp":
				t.ICMP, t.HasICMP = intOf(f), true
			case "icmpv6":
				t.ICMP, t.HasICMP, t.ICMPv6 = intOf(f), true, true
			case "addresses":
				t.Addresses = stringsOf(f)
			}
		}
		out = append(out, t)
	}
	return out
}

func decodeResolve(v cue.Value) []Pinned {
	fields, err := v.Fields()
	if err != nil {
		return nil
	}
	var out []Pinned
	for fields.Next() {
		name := String{S: fields.Selector().Unquoted(), Pos: fields.Value().Pos()}
		out = append(out, Pinned{Name: name, Addrs: stringsOf(fields.Value())})
	}
	return out
}

func stringOf(v cue.Value) String {
	s, _ := v.String()
	return String{S: s, Pos: v.Pos()}
}

func intOf(v cue.Value) Int {
	n, _ := v.Int64()
	return Int{N: n, Pos: v.Pos()}
}

func stringsOf(v cue.Value) []String {
	out := []String{}
	list, _ := v.List()
	for list.Next() {
		out = append(out, stringOf(list.Value()))
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
		if !clearest(all, byPath[path], i) || mismatchAbove(all, paths, i) {
			continue
		}
		format, args := e.Msg()
		format, args = plainMessage(paths[i], format, args)
		ps := userPositions(errors.Positions(e))
		if len(ps) == 0 {
			if p := nearestPos(user, paths[i]); p.IsValid() {
				ps = []token.Pos{p}
			}
		}
		ue := &posError{path: paths[i], format: format, args: args}
		if len(ps) > 0 {
			ue.pos, ue.inputs = ps[0], ps[1:]
		}
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

// mismatchAbove reports whether error i is a type mismatch of a value
// that another error is about a part of: a disjunction of a string and a
// struct, given a struct with a mistake inside, fails both ways, and the
// mistake inside is the one to show.
func mismatchAbove(all []errors.Error, paths [][]string, i int) bool {
	if format, _ := all[i].Msg(); !strings.Contains(format, "mismatched types") {
		return false
	}
	for j, p := range paths {
		if j != i && len(p) > len(paths[i]) && slices.Equal(p[:len(paths[i])], paths[i]) {
			return true
		}
	}
	return false
}

// userPositions returns the positions that are in files of the user's,
// each once.
func userPositions(ps []token.Pos) []token.Pos {
	var out []token.Pos
	for _, p := range ps {
		if isUserFile(p.Filename()) && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
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

// networksWellFormed reports whether v, the networks section, is what the
// schema's networks field takes: names that are #Name, each naming a list
// of concrete strings. Destinations themselves are checked where a rule
// uses them.
func networksWellFormed(v cue.Value) bool {
	iter, err := v.Fields()
	if err != nil {
		return false
	}
	for iter.Next() {
		if !IsRuleName(iter.Selector().Unquoted()) {
			return false
		}
		n := iter.Value()
		if n.Err() != nil || n.IncompleteKind() != cue.ListKind {
			return false
		}
		items, err := n.List()
		if err != nil {
			return false
		}
		for items.Next() {
			e := items.Value()
			if e.Err() != nil || e.IncompleteKind() != cue.StringKind || !e.IsConcrete() {
				return false
			}
		}
	}
	return true
}
