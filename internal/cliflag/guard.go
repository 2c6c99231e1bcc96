package cliflag

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// flagError is an error about a flag found while parsing the command
// line, already worded for the user.
type flagError struct{ msg string }

func (e *flagError) Error() string { return e.msg }

// onceValue wraps a flag's value: a flag given twice is an error, where
// pflag would keep the last value and silently drop the first, and so is
// an empty value, which no flag guarded takes.
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
		return &flagError{fmt.Sprintf("%s is empty; want %s", name, VarName(v.flag))}
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
		return &flagError{fmt.Sprintf("--%s is empty; want %s", v.flag.Name, VarName(v.flag))}
	}
	return v.Value.Set(s)
}

func (v *listValue) Append(s string) error    { return v.list.Append(s) }
func (v *listValue) Replace(s []string) error { return v.list.Replace(s) }
func (v *listValue) GetSlice() []string       { return v.list.GetSlice() }

// Guard wraps the value of every flag of cmd and its subcommands, local
// and persistent, so that a flag given twice or given an empty value is
// an error: a flag whose value is a [pflag.SliceValue] may be repeated,
// each time with a value; any other flag may be given once. Call it once
// the whole command tree is built; flags added later are not guarded.
// Help stays as pflag writes it.
func Guard(cmd *cobra.Command) {
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
		Guard(c)
	}
}

// ErrorFunc is a [cobra.Command.SetFlagErrorFunc] function that words
// the errors of flag values as "--flag value: reason", without the
// parser's internals: the errors of the values [Guard] wraps as they
// are, and those of pflag's own bool and duration values in the words of
// what they take. Other errors pass unchanged.
func ErrorFunc(_ *cobra.Command, err error) error {
	var fe *flagError
	if errors.As(err, &fe) {
		return fe
	}
	var ive *pflag.InvalidValueError
	if !errors.As(err, &ive) {
		return err
	}
	f, cause := ive.GetFlag(), ive.Unwrap()
	switch Inner(f.Value).Type() {
	case "bool":
		cause = errors.New("want true or false")
	case "duration":
		cause = errors.New("want a duration such as 90s, 2m or 1h30m")
	}
	return fmt.Errorf("--%s %s: %w", f.Name, ive.GetValue(), cause)
}

// given returns the value f was given on the command line, as it was
// written; for a flag that [Guard] did not wrap, its value now.
func given(f *pflag.Flag) string {
	switch v := f.Value.(type) {
	case *onceValue:
		return v.given
	case onceBoolValue:
		return v.given
	}
	return f.Value.String()
}

// Inner returns the value that [Guard] wrapped in v, or v if it wrapped
// none: the value the program registered.
func Inner(v pflag.Value) pflag.Value {
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

// VarName is the name help gives f's value, as FILE in "--out FILE".
func VarName(f *pflag.Flag) string {
	name, _ := pflag.UnquoteUsage(f)
	return name
}

// PathError is the error of the flag name whose value, path, could not
// be used because of err: "--name path: cause", the cause without the
// operation and path that a [fs.PathError] in err would repeat.
func PathError(name, path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("--%s %s: %w", name, path, err)
}
