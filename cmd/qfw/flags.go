package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/internal/cliflag"
	"github.com/qfw-dev/qfw/policy"
)

// targetValue is the --target flag of compile and apply: it accepts only
// the targets that exist, and says which they are when given another.
type targetValue = cliflag.Enum[deploy.Target]

func newTargetValue() targetValue {
	return targetValue{Value: deploy.TargetQubes, Of: deploy.Targets, Kind: "target"}
}

// format is an output format, as --format names it.
type format uint8

const (
	formatText format = iota
	formatGitHub
	formatJSON
	formatMarkdown
	formatHTML
	formatDOT
)

var formatNames = [...]string{
	formatText: "text", formatGitHub: "github", formatJSON: "json",
	formatMarkdown: "markdown", formatHTML: "html", formatDOT: "dot",
}

// String is the format's name, as --format takes it.
func (f format) String() string { return formatNames[f] }

// formatValue is the --format flag of a command: one of the formats it
// writes, the first of them by default.
type formatValue = cliflag.Enum[format]

func newFormatValue(takes ...format) formatValue {
	return formatValue{Value: takes[0], Of: takes, Kind: "format"}
}

// flagChecks are the checks of each flag's value on its own, besides
// those of its kind (see cliflag.Checks).
var flagChecks = cliflag.Checks{
	Durations: map[string]cliflag.DurationRange{
		// A day at most: a forgotten apply that waits longer holds the
		// lock for nothing. Zero would be the default given explicitly:
		// no wait.
		"confirm-timeout": {Min: time.Nanosecond, Max: 24 * time.Hour, Want: "above 0s and at most 24h"},
	},
	Time: cliflag.TimeRange{After: 0, Until: ir.MaxExpire, Want: "a time after 1970 and before 9999-12-31T00:00:00Z, as dom0 reads expiry"},
	// The flags whose values name qubes, each a name dom0 takes.
	Names: cliflag.NameCheck{Flags: []string{"qube", "release", "reset", "mgmt"}, Valid: policy.IsQubeName, Kind: "a qube name", Rule: deploy.QubeNameRule},
}

// flagRules say when a command ignores a flag, which is then an error.
var flagRules = []cliflag.Rule{
	{Cmds: []string{"compile"}, Flag: "qube", Other: "target", Values: []string{"qubes"}},
	{Cmds: []string{"compile"}, Flag: "firewall", Other: "target", Values: []string{"qubesdb", "nftables", "mirage"}},
	{Cmds: []string{"compile"}, Flag: "dns", Other: "target", Values: []string{"nftables"}},
	{Cmds: []string{"test"}, Flag: "format", Other: "json", Why: "--json prints every test as JSON, in no other format"},
	{Cmds: []string{"diff"}, Flag: "format", Other: "json", Why: "--json prints the changes as JSON, in no other format"},
	{Flag: "qrexec-client", Other: "qrexec", Values: []string{"true"}},
	{Flag: "socket", Other: "qrexec", Why: "--qrexec reaches the Admin API through qrexec-client-vm, not qubesd's socket"},
	{Cmds: []string{"plan", "import"}, Flag: "socket", Other: "state", Why: "--state reads the lists from files, not through the Admin API"},
	{Cmds: []string{"plan", "import"}, Flag: "qrexec-client", Other: "state", Why: "--state reads the lists from files, not through the Admin API"},
	{Cmds: []string{"plan"}, Flag: "kernels-dir", Other: "state", Why: "a plan from --state leaves out the unikernel firewall qubes, whose kernels it would check"},
	{Cmds: []string{"apply"}, Flag: "inventory", Other: "plan", Why: "a saved plan is applied as it was made, without reading the policy"},
	{Cmds: []string{"apply"}, Flag: "now", Other: "plan", Why: "a saved plan is applied as it was made, without reading the policy"},
	{Cmds: []string{"apply"}, Flag: "skip-tests", Other: "plan", Why: "a saved plan is applied as it was made, without reading the policy"},
	{Cmds: []string{"agent"}, Flag: "hooks-root", Other: "once", Why: "--once runs no hooks"},
}

// checkFlags checks the flags cmd was given, before it runs: each value
// on its own, then the flags together.
func checkFlags(cmd *cobra.Command, _ []string) error {
	if err := flagChecks.Check(cmd); err != nil {
		return err
	}
	return cliflag.CheckRules(cmd, flagRules)
}
