package main

import "fmt"

// targetValue is the --target flag: it accepts only the targets that exist,
// and says which they are when given another.
type targetValue uint8

const (
	targetQubes targetValue = iota
	targetQubesDB
)

var targetNames = []string{targetQubes: "qubes", targetQubesDB: "qubesdb"}

func (t *targetValue) String() string { return targetNames[*t] }

func (t *targetValue) Set(s string) error {
	for i, n := range targetNames {
		if s == n {
			*t = targetValue(i)
			return nil
		}
	}
	return fmt.Errorf("unknown target %q: want qubes or qubesdb", s)
}

func (t *targetValue) Type() string { return "TARGET" }

// jsonKey is the key of the list of outputs in --json output.
func (t targetValue) jsonKey() string {
	if t == targetQubesDB {
		return "firewalls"
	}
	return "qubes"
}

// formatValue is the --format flag of test.
type formatValue uint8

const (
	formatText formatValue = iota
	formatGitHub
)

var formatNames = []string{formatText: "text", formatGitHub: "github"}

func (f *formatValue) String() string { return formatNames[*f] }

func (f *formatValue) Set(s string) error {
	for i, n := range formatNames {
		if s == n {
			*f = formatValue(i)
			return nil
		}
	}
	return fmt.Errorf("unknown format %q: want text or github", s)
}

func (f *formatValue) Type() string { return "FORMAT" }
