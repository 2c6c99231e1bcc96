package qrexecpolicy

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// Grants says what qfw does from a management qube, for Generate.
type Grants struct {
	// Mgmt is the management qube.
	Mgmt string
	// Properties are the properties qfw reads of every qube.
	Properties []string
	// Manage adds the calls that change qubes; without it the policy
	// only reads, as inventory and import do.
	Manage bool
	// Tag marks the qubes whose rules the management qube may set; apply
	// sets it on each qube it manages before it sets the qube's rules.
	Tag string
	// Tagged are the qubes the management qube may tag Tag.
	Tagged []string
	// Firewalls are the unikernel firewall qubes it provisions.
	Firewalls []Firewall
}

// Firewall is a unikernel firewall qube qfw creates and configures.
type Firewall struct {
	Name string
	// Class is the class it is created with.
	Class string
	// Properties and Features are those qfw reads and sets.
	Properties, Features []string
}

// Section is rules under a comment that says what they are for.
type Section struct {
	Comment string
	Rules   []Rule
}

// File is a policy file as Generate writes it.
type File struct {
	// Name is where it goes in dom0.
	Name     string
	Header   string
	Sections []Section
}

// FileName is where Generate's policy goes in dom0: before the Admin API's
// defaults (90-admin-default.policy), which it must come before to take
// effect.
const FileName = "/etc/qubes/policy.d/30-qfw.policy"

// Generate returns the policy that lets g.Mgmt make the calls g says, and
// no others. Every rule is needed by some call qfw makes, and no rule
// covers another: calls without an argument are allowed with the empty
// argument only, those with one with that argument only, and each call on
// the qubes it is made on.
func Generate(g Grants) (*File, error) {
	if !isQubeName(g.Mgmt) || g.Mgmt == "dom0" {
		return nil, fmt.Errorf("management qube %q: not a qube name", g.Mgmt)
	}
	if g.Manage && (g.Tag == "" || !isRPCName(g.Tag) || strings.Contains(g.Tag, "+")) {
		return nil, fmt.Errorf("tag %q: a tag is ASCII letters, digits, \"-\" and \"_\"", g.Tag)
	}
	for _, q := range g.Tagged {
		if !isQubeName(q) {
			return nil, fmt.Errorf("qube %q: not a qube name", q)
		}
	}
	for _, fw := range g.Firewalls {
		if !isQubeName(fw.Name) {
			return nil, fmt.Errorf("firewall qube %q: not a qube name", fw.Name)
		}
		if fw.Class == "" || !isRPCName(fw.Class) || strings.Contains(fw.Class, "+") {
			return nil, fmt.Errorf("firewall qube %s: class %q", fw.Name, fw.Class)
		}
		for _, n := range append(slices.Clone(fw.Properties), fw.Features...) {
			if n == "" || !isRPCName("+"+n) {
				return nil, fmt.Errorf("firewall qube %s: property or feature %q", fw.Name, n)
			}
		}
	}
	for _, n := range g.Properties {
		if n == "" || !isRPCName("+"+n) {
			return nil, fmt.Errorf("property %q", n)
		}
	}

	allow := func(service, arg, target string) Rule {
		return Rule{Service: service, Arg: "+" + arg, Source: g.Mgmt, Target: target, Action: Allow, Redirect: AdminVM}
	}
	f := &File{Name: FileName, Header: header(g)}
	read := Section{Comment: "Read every qube's network settings, tags and firewall rules, as qfw\n" +
		"inventory, import, plan and apply do. The first rule allows the call,\n" +
		"the second the qubes it lists."}
	read.Rules = append(read.Rules, allow("admin.vm.List", "", AdminVM), allow("admin.vm.List", "", "@anyvm"))
	for _, p := range sorted(g.Properties) {
		read.Rules = append(read.Rules, allow("admin.vm.property.Get", p, "@anyvm"))
	}
	read.Rules = append(read.Rules, allow("admin.vm.tag.List", "", "@anyvm"), allow("admin.vm.firewall.Get", "", "@anyvm"))
	f.Sections = append(f.Sections, read)

	if g.Manage {
		tag := "@tag:" + g.Tag
		f.Sections = append(f.Sections, Section{
			Comment: "Set the firewall rules of the qubes tagged " + g.Tag + ": qfw apply tags each\n" +
				"qube it manages before it sets its rules, and --release and --reset take\n" +
				"the tag away.",
			Rules: []Rule{allow("admin.vm.firewall.Set", "", tag), allow("admin.vm.tag.Remove", g.Tag, tag)},
		})
		if len(g.Tagged) > 0 {
			s := Section{Comment: "The qubes qfw may tag " + g.Tag + ": those the policy manages, and those\n" +
				"that left it still tagged, which a revert of --reset tags again."}
			for _, q := range sorted(g.Tagged) {
				s.Rules = append(s.Rules, allow("admin.vm.tag.Set", g.Tag, q))
			}
			f.Sections = append(f.Sections, s)
		}
	}

	if len(g.Firewalls) > 0 {
		var classes []string
		for _, fw := range g.Firewalls {
			classes = append(classes, fw.Class)
		}
		s := Section{Comment: "Create the unikernel firewall qubes. The call names no qube: it lets\n" +
			g.Mgmt + " create a qube of any name of this class."}
		for _, c := range sorted(classes) {
			s.Rules = append(s.Rules, allow("admin.vm.Create."+c, "", AdminVM))
		}
		f.Sections = append(f.Sections, s)
		fws := slices.Clone(g.Firewalls)
		slices.SortFunc(fws, func(a, b Firewall) int { return strings.Compare(a.Name, b.Name) })
		for _, fw := range fws {
			s := Section{Comment: "Read and set what the unikernel firewall qube " + fw.Name + " needs."}
			for _, p := range sorted(fw.Properties) {
				if !slices.Contains(g.Properties, p) {
					s.Rules = append(s.Rules, allow("admin.vm.property.Get", p, fw.Name))
				}
			}
			for _, p := range sorted(fw.Properties) {
				s.Rules = append(s.Rules, allow("admin.vm.property.Set", p, fw.Name))
			}
			for _, x := range sorted(fw.Features) {
				s.Rules = append(s.Rules, allow("admin.vm.feature.Get", x, fw.Name))
			}
			for _, x := range sorted(fw.Features) {
				s.Rules = append(s.Rules, allow("admin.vm.feature.Set", x, fw.Name))
			}
			f.Sections = append(f.Sections, s)
		}
	}
	return f, nil
}

// sorted returns the distinct strings of s, sorted.
func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

func header(g Grants) string {
	var b strings.Builder
	fmt.Fprintf(&b, `qrexec policy (Qubes 4.1 and later) for qfw in the management qube %[1]s,
written by qfw setup qrexec-policy. It allows %[1]s the Admin API calls qfw
makes, and no others; the calls it does not allow are left to the other
policy files, which refuse Admin API calls unless told otherwise.
`, g.Mgmt)
	if !g.Manage {
		fmt.Fprintf(&b, `
This policy only reads, for qfw inventory and qfw import before there is a
policy to apply. Once there is, replace it with the one that
qfw setup qrexec-policy --mgmt %s POLICY writes.
`, g.Mgmt)
	} else {
		b.WriteString(`
Write it again, and install it again, when the policy manages other qubes
or provisions other firewall qubes.
`)
	}
	fmt.Fprintf(&b, `
Read it, then install it in dom0 as %[2]s,
which comes before the Admin API's defaults (90-admin-default.policy);
qrexec reads it at once. If %[1]s saved it as ~/30-qfw.policy:

  qvm-run --pass-io --no-gui %[1]s 'cat 30-qfw.policy' > 30-qfw.policy
  sudo install -m 0644 30-qfw.policy %[2]s

Then run qfw in %[1]s with --qrexec.`, g.Mgmt, FileName)
	return b.String()
}

// Rules returns the file's rules, in order.
func (f *File) Rules() []Rule {
	var out []Rule
	for _, s := range f.Sections {
		out = append(out, s.Rules...)
	}
	return out
}

// Format returns the file as dom0 reads it: the header and each section's
// comment as "#" lines, and the rules with their columns aligned.
func (f *File) Format() []byte {
	var w [4]int
	for _, r := range f.Rules() {
		for i, v := range []string{r.Service, r.Arg, r.Source, r.Target} {
			w[i] = max(w[i], len(v))
		}
	}
	var b bytes.Buffer
	comment(&b, f.Header)
	for _, s := range f.Sections {
		b.WriteByte('\n')
		comment(&b, s.Comment)
		for _, r := range s.Rules {
			fmt.Fprintf(&b, "%-*s  %-*s  %-*s  %-*s  %s\n", w[0], r.Service, w[1], r.Arg, w[2], r.Source, w[3], r.Target, r.action())
		}
	}
	return b.Bytes()
}

// comment writes text as "#" lines.
func comment(b *bytes.Buffer, text string) {
	for _, line := range strings.Split(text, "\n") {
		if line == "" {
			b.WriteString("#\n")
		} else {
			b.WriteString("# " + line + "\n")
		}
	}
}
