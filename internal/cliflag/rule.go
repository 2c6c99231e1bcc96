package cliflag

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/internal/words"
)

// A Rule says when a command ignores a flag, which is then an error: a
// flag that changes nothing would leave the user believing it did.
type Rule struct {
	// Cmds are the commands the rule is about, by name; nil for every
	// command that has both flags.
	Cmds []string
	// Flag is the flag the rule is about.
	Flag string
	// Other is the flag that decides. With Values, Flag is read only
	// while Other's value, given or by default, is one of them; without,
	// Flag is ignored whenever Other is given, for the reason Why.
	Other  string
	Values []string
	Why    string
}

// CheckRules returns the error of the first of rules that cmd's flags
// break, worded by the rule: "--flag does not go with --other: why",
// "--flag is for --other only" for a boolean other, or "--flag is for
// --other a or b only, not c".
func CheckRules(cmd *cobra.Command, rules []Rule) error {
	fs := cmd.Flags()
	for _, r := range rules {
		if r.Cmds != nil && !slices.Contains(r.Cmds, cmd.Name()) {
			continue
		}
		f, other := fs.Lookup(r.Flag), fs.Lookup(r.Other)
		if f == nil || other == nil || !f.Changed {
			continue
		}
		// --qrexec=false is no --qrexec.
		otherGiven := other.Changed && (other.NoOptDefVal != "true" || other.Value.String() == "true")
		switch {
		case r.Values == nil && otherGiven:
			return fmt.Errorf("--%s does not go with --%s: %s", r.Flag, r.Other, r.Why)
		case r.Values == nil:
		case slices.Equal(r.Values, []string{"true"}) && other.Value.String() != "true":
			return fmt.Errorf("--%s is for --%s only", r.Flag, r.Other)
		case !slices.Contains(r.Values, other.Value.String()):
			return fmt.Errorf("--%s is for --%s %s only, not %s", r.Flag, r.Other, words.Or(r.Values), other.Value.String())
		}
	}
	return nil
}
