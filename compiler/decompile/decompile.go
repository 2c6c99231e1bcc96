package decompile

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/literal"

	"github.com/qfw-dev/qfw/compiler"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/policy"
)

// Qube is one qube's rule list, as dom0 holds it.
type Qube struct {
	Name  string
	Rules []ir.Rule
	// DNS is what the DNS target means behind the qube's netvm, for the
	// rules that the compiler will find shadowed.
	DNS compiler.DNS
}

// RuleError is a line that the policy language cannot say.
type RuleError struct {
	Qube string
	// Index is the line's place in the qube's list, from 0.
	Index  int
	Reason string
}

func (e *RuleError) Error() string {
	return fmt.Sprintf("qube %s: rule %d: %s", e.Qube, e.Index+1, e.Reason)
}

// Firewall is a firewall qube and the backend that enforces its clients'
// rules.
type Firewall struct {
	Name string
	// Backend is "qubes", "nftables" or "mirage".
	Backend string
	// MirageVersion is the unikernel's release, for "mirage".
	MirageVersion string
}

// File returns a CUE file of package pkg that declares firewalls, if any,
// and qubes, in their order, with header as its leading comment (one "// "
// line per line of it). The error joins a *RuleError for each line that
// cannot be written; the qubes those lines are in are left out of the
// file.
func File(pkg, header string, firewalls []Firewall, qubes []Qube) ([]byte, error) {
	var b bytes.Buffer
	for line := range strings.Lines(header) {
		b.WriteString("// " + line)
	}
	if header != "" {
		b.WriteString("\n\n")
	}
	fmt.Fprintf(&b, "package %s\n\n", pkg)
	if len(firewalls) > 0 {
		b.WriteString("firewalls: {\n")
		for _, f := range firewalls {
			backend := quote(f.Backend)
			if f.Backend == "mirage" {
				backend = "{mirage: {version: " + quote(f.MirageVersion) + "}}"
			}
			fmt.Fprintf(&b, "\t%s: backend: %s\n", label(f.Name), backend)
		}
		b.WriteString("}\n\n")
	}
	b.WriteString("qubes: {\n")
	var errs []error
	written := 0
	for _, q := range qubes {
		entry, err := Entry(q)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if written > 0 {
			b.WriteByte('\n')
		}
		b.Write(entry)
		written++
	}
	b.WriteString("}\n")
	out, err := format.Source(b.Bytes())
	if err != nil {
		// Every label and string is quoted by the CUE library, so this is
		// a bug, not bad input.
		return nil, fmt.Errorf("decompile: generated CUE does not parse: %w", err)
	}
	return out, errors.Join(errs...)
}

// Entry returns the CUE text of q's entry in qubes: its name and its
// rules, one per line of its list. The error joins a *RuleError for each
// line that cannot be written.
//
// An empty list, which dom0 holds when all its rules have expired or its
// firewall.xml was edited, blocks all traffic: the entry has no rules,
// which blocks all traffic too, and compiles to a list of one line that
// drops everything (as dom0 refuses to set an empty one).
func Entry(q Qube) ([]byte, error) {
	if len(q.Rules) == 0 {
		return []byte("\t// The list was empty: dom0 blocks all traffic, as this does.\n\t" + label(q.Name) + ": {}\n"), nil
	}
	if len(q.Rules) > policy.MaxPriority {
		return nil, &RuleError{Qube: q.Name, Index: policy.MaxPriority, Reason: fmt.Sprintf("the list has %d rules; a qube may have at most %d", len(q.Rules), policy.MaxPriority)}
	}
	step := 10
	if len(q.Rules)*step > policy.MaxPriority {
		step = 1
	}
	names := RuleNames(q.Rules)
	shadowed := compiler.Shadowed(q.Rules, q.DNS)
	var b bytes.Buffer
	fmt.Fprintf(&b, "\t%s: {\n", label(q.Name))
	var errs []error
	for i, r := range q.Rules {
		text, reason := rule(r, names[i], (i+1)*step, shadowed[i])
		if reason != "" {
			errs = append(errs, &RuleError{Qube: q.Name, Index: i, Reason: reason})
			continue
		}
		b.WriteString("\t\t" + text + "\n")
	}
	b.WriteString("\t}\n")
	if errs != nil {
		return nil, errors.Join(errs...)
	}
	return b.Bytes(), nil
}

// rule returns the text of one rule, or why it cannot be written.
func rule(r ir.Rule, name string, priority int, shadowed bool) (text, reason string) {
	var fields []string
	add := func(name, value string) { fields = append(fields, name+": "+value) }
	switch {
	case r.Dst.Host == "any":
		return "", `dsthost=any names a host called "any"; in qfw, to: "any" means every destination`
	case r.DNS && !r.Dst.IsAny():
		return "", "specialtarget=dns with a destination; qfw's dns: true stands for the DNS servers alone"
	case r.DNS && r.Proto == ir.ICMP:
		return "", "specialtarget=dns with proto=icmp matches nothing in the Linux agent; qfw cannot write it"
	case r.DNS && r.HasPorts && r.Ports != ir.PortRange{First: 53, Last: 53}:
		return "", "specialtarget=dns with ports other than 53 matches nothing in the Linux agent; qfw cannot write it"
	case r.DNS:
		add("dns", "true")
	default:
		add("to", quote(dst(r.Dst)))
	}
	switch r.Proto {
	case ir.TCP:
		add("tcp", ports(r))
	case ir.UDP:
		add("udp", ports(r))
	case ir.ICMP:
		switch {
		case !r.HasICMPType:
			add("icmp", "true")
		case r.Dst.Family() == 4:
			add("icmp", icmpType(r))
		case r.Dst.Family() == 6:
			add("icmpv6", icmpType(r))
		default:
			// No destination, or a host name: the type in both
			// families, one Qubes rule, as the policy writes it.
			add("icmp", icmpType(r))
			add("icmpv6", icmpType(r))
		}
	}
	add("priority", strconv.Itoa(priority))
	if r.Expire != 0 {
		add("expire", strconv.FormatInt(r.Expire, 10))
	}
	if r.Comment != name {
		add("comment", quote(r.Comment))
	}
	if shadowed {
		add("shadowed", "true")
	}
	kind := "allow"
	if r.Action == ir.Drop {
		kind = "deny"
	}
	return kind + ": " + label(name) + ": {" + strings.Join(fields, ", ") + "}", ""
}

// dst returns a destination as a rule's to field writes it.
func dst(d ir.Dst) string {
	switch {
	case d.Host != "":
		return d.Host
	case !d.Prefix.IsValid():
		return "any"
	case d.Prefix.IsSingleIP():
		return d.Prefix.Addr().String()
	}
	return d.Prefix.String()
}

func ports(r ir.Rule) string {
	switch {
	case !r.HasPorts:
		return "true"
	case r.Ports.First == r.Ports.Last:
		return "[" + strconv.Itoa(int(r.Ports.First)) + "]"
	}
	return fmt.Sprintf("[%q]", fmt.Sprintf("%d-%d", r.Ports.First, r.Ports.Last))
}

func icmpType(r ir.Rule) string { return "[" + strconv.Itoa(int(r.ICMPType)) + "]" }

// RuleNames names the rules of a list, as Entry writes them, each unique in
// the list. A comment that is a valid rule name
// and unique in the list names its rule, and the comment then goes
// without saying (a rule's comment defaults to its name). Other rules are
// named after their comment, or "rule", and their place in the list.
func RuleNames(rules []ir.Rule) []string {
	count := map[string]int{}
	for _, r := range rules {
		count[r.Comment]++
	}
	names := make([]string, len(rules))
	taken := map[string]bool{}
	for i, r := range rules {
		if count[r.Comment] == 1 && policy.IsRuleName(r.Comment) {
			names[i] = r.Comment
			taken[r.Comment] = true
		}
	}
	width := len(strconv.Itoa(len(rules)))
	for i, r := range rules {
		if names[i] != "" {
			continue
		}
		base := "rule"
		if policy.IsRuleName(r.Comment) {
			base = r.Comment
		}
		name := fmt.Sprintf("%s-%0*d", base, width, i+1)
		for taken[name] {
			name += "x"
		}
		names[i] = name
		taken[name] = true
	}
	return names
}

// CheckPackage reports whether name can name the package of the files
// File writes.
func CheckPackage(name string) error {
	if !ast.IsValidIdent(name) || strings.HasPrefix(name, "#") || strings.HasPrefix(name, "_") || keywords[name] {
		return fmt.Errorf("%q is not a CUE package name", name)
	}
	return nil
}

// label returns s as a CUE field label: bare when it is an identifier
// that means itself, quoted otherwise.
func label(s string) string {
	if ast.IsValidIdent(s) && !strings.HasPrefix(s, "#") && !strings.HasPrefix(s, "_") && !keywords[s] {
		return s
	}
	return quote(s)
}

// keywords may not stand bare as labels, or mean something else there.
var keywords = map[string]bool{
	"true": true, "false": true, "null": true, "bool": true, "int": true, "float": true,
	"string": true, "bytes": true, "number": true, "for": true, "if": true, "in": true,
	"let": true, "import": true, "package": true, "_": true, "__": true,
}

func quote(s string) string { return literal.String.Quote(s) }
