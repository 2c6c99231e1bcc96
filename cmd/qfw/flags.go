package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/internal/jsonfile"
	"github.com/qfw-dev/qfw/policy"
)

// targetValue is the --target flag: it accepts only the targets that exist,
// and says which they are when given another.
type targetValue uint8

const (
	targetQubes targetValue = iota
	targetQubesDB
	targetNftables
	targetMirage
)

var targetNames = []string{targetQubes: "qubes", targetQubesDB: "qubesdb", targetNftables: "nftables", targetMirage: "mirage"}

func (t *targetValue) String() string { return targetNames[*t] }

func (t *targetValue) Set(s string) error {
	for i, n := range targetNames {
		if s == n {
			*t = targetValue(i)
			return nil
		}
	}
	return errors.New("unknown target; want qubes, qubesdb, nftables or mirage")
}

func (t *targetValue) Type() string { return "TARGET" }

// jsonKey is the key of the list of outputs in --json output.
func (t targetValue) jsonKey() string {
	if t == targetQubes {
		return "qubes"
	}
	return "firewalls"
}

// format is an output format of vet and test.
type format uint8

const (
	formatText format = iota
	formatGitHub
	formatJSON
)

var formatNames = []string{formatText: "text", formatGitHub: "github", formatJSON: "json"}

// formatValue is the --format flag of vet and test: a format, one of
// those the command takes.
type formatValue struct {
	format
	takes []format
}

func (f *formatValue) String() string { return formatNames[f.format] }

func (f *formatValue) Set(s string) error {
	names := make([]string, len(f.takes))
	for i, t := range f.takes {
		if names[i] = formatNames[t]; s == names[i] {
			f.format = t
			return nil
		}
	}
	return fmt.Errorf("unknown format; want %s", jsonfile.OrList(names))
}

func (f *formatValue) Type() string { return "FORMAT" }

// addrsValue is a flag holding a comma-separated list of IP addresses.
type addrsValue struct{ addrs []netip.Addr }

func (v *addrsValue) String() string {
	parts := make([]string, len(v.addrs))
	for i, a := range v.addrs {
		parts[i] = a.String()
	}
	return strings.Join(parts, ",")
}

func (v *addrsValue) Set(s string) error {
	v.addrs = nil
	for _, part := range strings.Split(s, ",") {
		a, err := netip.ParseAddr(strings.TrimSpace(part))
		if err != nil || a.Zone() != "" || a.Is4In6() {
			return fmt.Errorf("%q is not an IPv4 or IPv6 address", part)
		}
		if slices.Contains(v.addrs, a) {
			return fmt.Errorf("%s is listed twice", a)
		}
		v.addrs = append(v.addrs, a)
	}
	return nil
}

func (v *addrsValue) Type() string { return "ADDRS" }

// flagError is an error about a flag found while parsing the command
// line, already worded for the user.
type flagError struct{ msg string }

func (e *flagError) Error() string { return e.msg }

// onceValue wraps a flag's value: a flag given twice is an error, where
// pflag would keep the last value and silently drop the first, and so is
// an empty value, which no flag of qfw's takes.
type onceValue struct {
	pflag.Value
	flag *pflag.Flag
	// given is the value as the command line gave it; set says it did.
	given string
	set   bool
}

func (v *onceValue) Set(s string) error {
	name := "--" + v.flag.Name
	switch {
	case v.set && v.isBool():
		return &flagError{name + " given twice; give it once"}
	case v.set:
		return &flagError{fmt.Sprintf("%s given twice (%q, then %q); give it once", name, v.given, s)}
	case s == "" && !v.isBool():
		return &flagError{fmt.Sprintf("%s is empty; want %s", name, varName(v.flag))}
	}
	v.given, v.set = s, true
	return v.Value.Set(s)
}

func (v *onceValue) isBool() bool { return v.flag.NoOptDefVal == "true" }

// onceBoolValue is the onceValue of a boolean flag, which help shows
// without a value.
type onceBoolValue struct{ *onceValue }

func (onceBoolValue) IsBoolFlag() bool { return true }

// listValue wraps the value of a flag that may be given many times, each
// time with a value that is not empty.
type listValue struct {
	pflag.Value
	list pflag.SliceValue
	flag *pflag.Flag
}

func (v *listValue) Set(s string) error {
	if s == "" {
		return &flagError{fmt.Sprintf("--%s is empty; want %s", v.flag.Name, varName(v.flag))}
	}
	return v.Value.Set(s)
}

func (v *listValue) Append(s string) error    { return v.list.Append(s) }
func (v *listValue) Replace(s []string) error { return v.list.Replace(s) }
func (v *listValue) GetSlice() []string       { return v.list.GetSlice() }

// guardFlags wraps the value of every flag of cmd and its subcommands: in
// a onceValue, or a listValue for the flags that may be repeated.
func guardFlags(cmd *cobra.Command) {
	for _, fs := range []*pflag.FlagSet{cmd.Flags(), cmd.PersistentFlags()} {
		fs.VisitAll(func(f *pflag.Flag) {
			switch f.Value.(type) {
			case *onceValue, onceBoolValue, *listValue:
				return
			}
			// pflag leaves out of help the defaults it knows for zero by
			// the type of their value, which the wrappers hide.
			if f.DefValue == "0s" && f.Value.Type() == "duration" || f.DefValue == "[]" {
				f.DefValue = ""
			}
			if list, ok := f.Value.(pflag.SliceValue); ok {
				f.Value = &listValue{Value: f.Value, list: list, flag: f}
				return
			}
			ov := &onceValue{Value: f.Value, flag: f}
			if f.NoOptDefVal == "true" {
				f.Value = onceBoolValue{ov}
			} else {
				f.Value = ov
			}
		})
	}
	for _, c := range cmd.Commands() {
		guardFlags(c)
	}
}

// flagErrorFunc words the errors of flag values as qfw's others are,
// "--flag value: reason", without the parser's internals: the errors of
// onceValue and listValue as they are, and pflag's own values' errors in
// the words of what they take.
func flagErrorFunc(_ *cobra.Command, err error) error {
	var fe *flagError
	if errors.As(err, &fe) {
		return fe
	}
	var ive *pflag.InvalidValueError
	if !errors.As(err, &ive) {
		return err
	}
	f, cause := ive.GetFlag(), ive.Unwrap()
	switch inner(f.Value).Type() {
	case "bool":
		cause = errors.New("want true or false")
	case "duration":
		cause = errors.New("want a duration such as 90s, 2m or 1h30m")
	}
	return fmt.Errorf("--%s %s: %w", f.Name, ive.GetValue(), cause)
}

// given returns the value f was given on the command line.
func given(f *pflag.Flag) string {
	switch v := f.Value.(type) {
	case *onceValue:
		return v.given
	case onceBoolValue:
		return v.given
	}
	return f.Value.String()
}

// inner returns the value a onceValue wraps.
func inner(v pflag.Value) pflag.Value {
	switch w := v.(type) {
	case *onceValue:
		return w.Value
	case onceBoolValue:
		return w.Value
	case *listValue:
		return w.Value
	}
	return v
}

// varName is the name help gives f's value, as FILE in "--out FILE".
func varName(f *pflag.Flag) string {
	name, _ := pflag.UnquoteUsage(f)
	return name
}

// durationRanges are the bounds of the duration flags, by name; a
// duration flag not listed must be positive.
var durationRanges = map[string]struct {
	min, max time.Duration
	text     string
}{
	// A day at most: a forgotten apply that waits longer holds the lock
	// for nothing. Zero would be the default given explicitly: no wait.
	"confirm-timeout": {time.Nanosecond, 24 * time.Hour, "above 0s and at most 24h"},
}

// qubeFlags are the flags whose values name qubes, each a name dom0 takes.
var qubeFlags = []string{"qube", "release", "reset"}

// qubeNameRule says, after "not a qube name: ", which names dom0 takes,
// for a name given on the command line or in a file qfw wrote.
const qubeNameRule = deploy.QubeNameRule

// checkFlagValues checks the values of the flags cmd was given, each on
// its own: paths of the right kind, durations and times in range.
func checkFlagValues(cmd *cobra.Command) error {
	var err error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if err == nil {
			err = checkFlagValue(f)
		}
	})
	return err
}

func checkFlagValue(f *pflag.Flag) error {
	name, val := "--"+f.Name, given(f)
	switch v := inner(f.Value).(type) {
	case *timeValue:
		if at := v.t.Unix(); at <= 0 || at > ir.MaxExpire {
			return fmt.Errorf("%s %s: want a time after 1970 and before 9999-12-31T00:00:00Z, as dom0 reads expiry", name, val)
		}
		return nil
	}
	if f.Value.Type() == "duration" {
		d, err := time.ParseDuration(f.Value.String())
		if err != nil {
			return err
		}
		r, ok := durationRanges[f.Name]
		switch {
		case ok && (d < r.min || d > r.max):
			return fmt.Errorf("%s %s: want a duration %s", name, val, r.text)
		case !ok && d <= 0:
			return fmt.Errorf("%s %s: want a positive duration", name, val)
		}
		return nil
	}
	if slices.Contains(qubeFlags, f.Name) {
		vals := []string{val}
		if list, ok := f.Value.(pflag.SliceValue); ok {
			vals = list.GetSlice()
		}
		for _, v := range vals {
			if !policy.IsQubeName(v) {
				return fmt.Errorf("%s %q: not a qube name: %s", name, v, qubeNameRule)
			}
		}
		return nil
	}
	// The help's name for a value says what it must be.
	switch varName(f) {
	case "FILE", "SOCKET", "PROGRAM":
		if fi, err := os.Stat(val); err == nil && fi.IsDir() {
			return fmt.Errorf("%s %s: is a directory; want a %s", name, val, strings.ToLower(varName(f)))
		}
	case "DIR":
		if fi, err := os.Stat(val); err == nil && !fi.IsDir() {
			return fmt.Errorf("%s %s: is not a directory", name, val)
		}
	}
	return nil
}

// A flagRule says when a command ignores a flag, which is then an error:
// a flag that changes nothing would leave the user believing it did.
type flagRule struct {
	// cmds are the commands the rule is about; nil for every command
	// that has both flags.
	cmds []string
	flag string
	// other is the flag that decides. With values, flag is read only
	// while other's value, given or by default, is one of them; without,
	// flag is ignored whenever other is given, for the reason why.
	other  string
	values []string
	why    string
}

var flagRules = []flagRule{
	{cmds: []string{"compile"}, flag: "qube", other: "target", values: []string{"qubes"}},
	{cmds: []string{"compile"}, flag: "firewall", other: "target", values: []string{"qubesdb", "nftables", "mirage"}},
	{cmds: []string{"compile"}, flag: "dns", other: "target", values: []string{"nftables"}},
	{cmds: []string{"test"}, flag: "format", other: "json", why: "--json prints every test as JSON, in no other format"},
	{flag: "qrexec-client", other: "qrexec", values: []string{"true"}},
	{flag: "socket", other: "qrexec", why: "--qrexec reaches the Admin API through qrexec-client-vm, not qubesd's socket"},
	{cmds: []string{"plan", "import"}, flag: "socket", other: "state", why: "--state reads the lists from files, not through the Admin API"},
	{cmds: []string{"plan", "import"}, flag: "qrexec-client", other: "state", why: "--state reads the lists from files, not through the Admin API"},
	{cmds: []string{"plan"}, flag: "kernels-dir", other: "state", why: "a plan from --state leaves out the unikernel firewall qubes, whose kernels it would check"},
	{cmds: []string{"apply"}, flag: "inventory", other: "plan", why: "a saved plan is applied as it was made, without reading the policy"},
	{cmds: []string{"apply"}, flag: "now", other: "plan", why: "a saved plan is applied as it was made, without reading the policy"},
	{cmds: []string{"apply"}, flag: "skip-tests", other: "plan", why: "a saved plan is applied as it was made, without reading the policy"},
}

// checkFlagRules returns the error of the first rule of rules that cmd's
// flags break.
func checkFlagRules(cmd *cobra.Command, rules []flagRule) error {
	fs := cmd.Flags()
	for _, r := range rules {
		if r.cmds != nil && !slices.Contains(r.cmds, cmd.Name()) {
			continue
		}
		f, other := fs.Lookup(r.flag), fs.Lookup(r.other)
		if f == nil || other == nil || !f.Changed {
			continue
		}
		// --qrexec=false is no --qrexec.
		otherGiven := other.Changed && (other.NoOptDefVal != "true" || other.Value.String() == "true")
		switch {
		case r.values == nil && otherGiven:
			return fmt.Errorf("--%s does not go with --%s: %s", r.flag, r.other, r.why)
		case r.values == nil:
		case slices.Equal(r.values, []string{"true"}) && other.Value.String() != "true":
			return fmt.Errorf("--%s is for --%s only", r.flag, r.other)
		case !slices.Contains(r.values, other.Value.String()):
			return fmt.Errorf("--%s is for --%s %s only, not %s", r.flag, r.other, jsonfile.OrList(r.values), other.Value.String())
		}
	}
	return nil
}

// checkFlags checks the flags cmd was given, before it runs: each value
// on its own, then the flags together.
func checkFlags(cmd *cobra.Command, _ []string) error {
	if err := checkFlagValues(cmd); err != nil {
		return err
	}
	return checkFlagRules(cmd, flagRules)
}
