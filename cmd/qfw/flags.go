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
