package policy

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// plainMessage restates one of CUE's messages about the value at path in
// the policy's words: the kind a field takes rather than CUE's type names,
// and no word of how CUE evaluates (incomplete, non-concrete, bottom) or
// of the schema's definitions. A message it does not know is kept, with
// any such words taken out.
func plainMessage(path []string, format string, args []any) (string, []any) {
	a := make([]string, len(args))
	for i, x := range args {
		a[i] = fmt.Sprint(x)
	}
	subject := subjectOf(path)
	switch format {
	case "conflicting values %s and %s (mismatched types %s and %s)":
		return mismatch(subject, a[0], a[1], a[2], a[3])
	case "conflicting value %s (mismatched types %s and %s)":
		return "%s must be %s, not %s", []any{subject, kindWord(a[2]), kindWord(a[1])}
	case "incomplete value %v", "non-concrete value %s (type %s)", "non-concrete value '%v'",
		"invalid non-ground value %s (must be concrete %s)", "unresolved disjunction %v (type %s)":
		return unset(subject, a[0])
	case "invalid value %v (out of bound %s)", "invalid value %s (does not satisfy %s)":
		if q, err := strconv.Unquote(a[0]); err == nil && qubeNameBound(a[1]) {
			return qubeNameMsg(q)
		}
		return "%s %s is out of range: it must be %s", []any{subject, a[0], boundWords(a[1])}
	case "field is required but not present", "required field missing: %s":
		return "%s is required but not given", []any{subject}
	case "invalid operand %s ('%s' requires concrete value)", "operand %s of '%s' not concrete (was %s)":
		return "%s is used in %q before it has a value", []any{a[0], a[1]}
	case "invalid operation %v (%s %s)":
		return "invalid operation %s", []any{a[0]}
	case "invalid operands %s and %s to '%s' (type %s and %s)":
		return "%q cannot combine %s and %s", []any{a[2], kindWord(a[3]), kindWord(a[4])}
	case "cannot range over %s (incomplete type %s)", "cannot range over %s (incomplete)":
		return "cannot loop over %s: it has no value yet", []any{a[0]}
	case "cycle with field: %v", "cycle with field %v", "cyclic reference to field %s", "cyclic reference to field %[1]v":
		return "%s depends on itself, through %s", []any{subject, a[0]}
	case "structural cycle":
		return "%s holds itself", []any{subject}
	case "explicit error (_|_ literal) in source":
		return "an error is written here, with no message", nil
	case "key value of dynamic field must be concrete, found %v":
		return "a field name computed here must be given a value, not only the type %s", []any{scrub(a[0])}
	case "non-concrete value %v in operand to %s":
		return "a value used in %q must be given, not only %s", []any{a[1], scrub(a[0])}
	case "error in call to %s":
		// The name of a function of CUE's standard library, such as
		// strconv.Atoi, which the user called.
		pkg, fn, _ := strings.Cut(a[0], ".")
		return "the call to %s of package %s fails", []any{fn, pkg}
	case "cannot range over %s (found %s, want list or struct)":
		return "cannot loop over %s: it is %s, not a list or struct", []any{a[0], kindWord(a[1])}
	}
	msg := fmt.Sprintf(format, args...)
	if scrubbed := scrub(msg); scrubbed != msg {
		return "%s", []any{scrubbed}
	}
	return format, args
}

// subjectOf names the value at path: its field name, or the list it is
// an entry of.
func subjectOf(path []string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if _, err := strconv.Atoi(path[i]); err == nil {
			if i > 0 {
				return "an entry of " + unquote(path[i-1])
			}
			continue
		}
		return unquote(path[i])
	}
	return "the policy"
}

// mismatch restates a conflict between values of two kinds. One side is
// usually what the schema or a reference wants, written as a type or a
// constraint, and the other what the user wrote.
func mismatch(subject, x, y, kx, ky string) (string, []any) {
	if subject == "tcp" || subject == "udp" {
		// The schema's true | [...#Port]: the list is the side CUE
		// reports.
		kx, ky = "ports", "ports"
	}
	switch tx, ty := typeLike(x), typeLike(y); {
	case ty && !tx:
		return "%s must be %s, not %s", []any{subject, kindWord(ky), x}
	case tx && !ty:
		return "%s must be %s, not %s", []any{subject, kindWord(kx), y}
	case tx && ty:
		return "%s cannot be both %s and %s", []any{subject, kindWord(kx), kindWord(ky)}
	}
	return "conflicting values %s and %s", []any{x, y}
}

// typeLike reports whether CUE's text of a value is a type or a constraint
// rather than a value, such as string, [...string], {...} or >=0.
func typeLike(s string) bool {
	switch s {
	case "int", "float", "number", "string", "bool", "bytes", "_":
		return true
	}
	return strings.ContainsAny(s[:1], "[{") && strings.Contains(s, "...") ||
		strings.HasPrefix(s, "#") || strings.ContainsAny(s[:1], "<>=!") || strings.Contains(s, " | ") || strings.Contains(s, " & ")
}

// kindWord names a CUE kind as the policy speaks of it.
func kindWord(kind string) string {
	switch kind {
	case "int":
		return "a whole number"
	case "float", "number", "int|float", "float|int":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "struct":
		return "a struct {...}"
	case "list":
		return "a list [...]"
	case "null":
		return "null"
	case "bytes":
		return "bytes"
	case "ports":
		return "true (every port) or a list of ports"
	}
	return "a value of another kind"
}

// unset says that a field holds a type, constraint or choice where a value
// is needed.
func unset(subject, value string) (string, []any) {
	value = scrub(value)
	switch {
	case strings.Contains(value, " | "):
		return "%s must be one value, not the choice %s", []any{subject, value}
	case typeLike(value) && !strings.ContainsAny(value[:1], "<>=!"):
		return "%s must be given a value, not only the type %s", []any{subject, value}
	}
	return "%s must be given a value, not only the constraint %s", []any{subject, value}
}

// boundWords restates a bound of the schema, such as <=65535.
func boundWords(b string) string {
	for _, op := range []struct{ op, words string }{
		{"<=", "at most "}, {">=", "at least "}, {"<", "less than "}, {">", "more than "},
		{"!=", "other than "}, {"=~", "of the form "}, {"!~", "not of the form "},
	} {
		if rest, ok := strings.CutPrefix(b, op.op); ok {
			return op.words + rest
		}
	}
	return b
}

// qubeNameBound reports whether b is one of the bounds of the schema's
// #QubeName.
func qubeNameBound(b string) bool {
	return strings.HasPrefix(b, `=~"^[A-Za-z][A-Za-z0-9_.-]{0,30}$"`) || b == `!="none"` || b == `!="default"` || b == `!~"-dm$"`
}

// internalWords are words of CUE's and Go's workings, with what to say
// instead.
var internalWords = strings.NewReplacer(
	"_|_", "an error",
	"incomplete value", "value not given",
	"non-concrete value", "value not given",
	"Go struct field", "field",
	"json: cannot unmarshal", "cannot read",
)

// internalPattern matches further internal text: a parenthesis about
// mismatched types, the schema's definition names, and Go's strconv
// function names.
var internalPattern = regexp.MustCompile(` ?\(mismatched types [^)]*\)|#(Policy|Qube|QubeName|Name|Rule|Service|Port|Dest|Profile|Firewall|Mirage|Test|Inventory|InventoryQube)\b|strconv\.[A-Za-z]+: ?`)

// scrub takes internal words out of a message.
func scrub(msg string) string {
	msg = internalPattern.ReplaceAllStringFunc(msg, func(m string) string {
		if strings.HasPrefix(m, "#") {
			return definitionWords[m]
		}
		return ""
	})
	return internalWords.Replace(msg)
}

// definitionWords names the schema's definitions in the policy's words.
var definitionWords = map[string]string{
	"#Policy": "policy", "#Qube": "qube", "#QubeName": "qube name", "#Name": "name", "#Rule": "rule",
	"#Service": "service", "#Port": "port", "#Dest": "destination", "#Profile": "profile",
	"#Firewall": "firewall", "#Mirage": "mirage", "#Test": "test", "#Inventory": "inventory",
	"#InventoryQube": "inventory qube",
}
