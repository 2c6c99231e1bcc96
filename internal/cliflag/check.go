package cliflag

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Checks says how [Checks.Check] checks the value of each flag on its
// own, beyond what the value's Set checks: bounds and names that depend
// on the program, not on the value's type.
type Checks struct {
	// Durations bounds the duration flags, by name; a duration flag not
	// listed must be positive.
	Durations map[string]DurationRange
	// Time bounds every flag whose value has a method Time() time.Time.
	Time TimeRange
	// Names checks the names that flags' values give.
	Names NameCheck
}

// DurationRange is the range of a duration flag's values, Min and Max
// included.
type DurationRange struct {
	Min, Max time.Duration
	// Want says what the range is, after "want a duration ": "above 0s
	// and at most 24h".
	Want string
}

// TimeRange is the range of the time flags' values, in whole seconds
// since the UNIX epoch: above After and at most Until.
type TimeRange struct {
	After, Until int64
	// Want says what a flag outside the range must be, after "want ".
	Want string
}

// NameCheck checks the flags whose every value is a name of one kind.
type NameCheck struct {
	// Flags are the flags, by name, repeatable or not.
	Flags []string
	// Valid says whether a value is a name of the kind.
	Valid func(string) bool
	// Kind is what the names are, after "not ": "a qube name".
	Kind string
	// Rule says which names are valid, after the kind.
	Rule string
}

// timed is a flag value that holds a time.
type timed interface{ Time() time.Time }

// Check checks the values of the flags that cmd was given, each on its
// own, and returns the first error, naming the flag and its value as
// given: a duration or time out of c's range, a name c's Valid refuses,
// or a path that is not of the kind help names its value, FILE, SOCKET
// and PROGRAM not a directory, and DIR a directory. A path that does not
// exist is the command's to report.
func (c *Checks) Check(cmd *cobra.Command) error {
	var err error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if err == nil {
			err = c.check(f)
		}
	})
	return err
}

func (c *Checks) check(f *pflag.Flag) error {
	name, val := "--"+f.Name, given(f)
	if v, ok := Inner(f.Value).(timed); ok {
		if at := v.Time().Unix(); at <= c.Time.After || at > c.Time.Until {
			return fmt.Errorf("%s %s: want %s", name, val, c.Time.Want)
		}
		return nil
	}
	if f.Value.Type() == "duration" {
		d, err := time.ParseDuration(f.Value.String())
		if err != nil {
			return err
		}
		r, ok := c.Durations[f.Name]
		switch {
		case ok && (d < r.Min || d > r.Max):
			return fmt.Errorf("%s %s: want a duration %s", name, val, r.Want)
		case !ok && d <= 0:
			return fmt.Errorf("%s %s: want a positive duration", name, val)
		}
		return nil
	}
	if slices.Contains(c.Names.Flags, f.Name) {
		vals := []string{val}
		if list, ok := f.Value.(pflag.SliceValue); ok {
			vals = list.GetSlice()
		}
		for _, v := range vals {
			if !c.Names.Valid(v) {
				return fmt.Errorf("%s %q: not %s: %s", name, v, c.Names.Kind, c.Names.Rule)
			}
		}
		return nil
	}
	// The help's name for a value says what it must be.
	switch kind := VarName(f); kind {
	case "FILE", "SOCKET", "PROGRAM":
		if fi, err := os.Stat(val); err == nil && fi.IsDir() {
			return fmt.Errorf("%s %s: is a directory; want a %s", name, val, strings.ToLower(kind))
		}
	case "DIR":
		if fi, err := os.Stat(val); err == nil && !fi.IsDir() {
			return fmt.Errorf("%s %s: is not a directory", name, val)
		}
	}
	return nil
}
