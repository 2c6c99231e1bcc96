package main

import (
	"fmt"
	"net/netip"
	"strings"
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
	return fmt.Errorf("unknown target %q: want qubes, qubesdb, nftables or mirage", s)
}

func (t *targetValue) Type() string { return "TARGET" }

// jsonKey is the key of the list of outputs in --json output.
func (t targetValue) jsonKey() string {
	if t == targetQubes {
		return "qubes"
	}
	return "firewalls"
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
		v.addrs = append(v.addrs, a)
	}
	return nil
}

func (v *addrsValue) Type() string { return "ADDRS" }
