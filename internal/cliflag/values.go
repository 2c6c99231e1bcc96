package cliflag

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/qfw-dev/qfw/internal/words"
)

// Enum is a flag value that is one of a fixed set of values, each given
// by its name, its String.
type Enum[T interface {
	comparable
	String() string
}] struct {
	// Value is the value the flag holds: its default until it is set.
	Value T
	// Of are the values the flag takes, in the order errors list them.
	Of []T
	// Kind is what the values are, in errors ("unknown target") and,
	// upper-cased, as the flag's type.
	Kind string
}

func (e *Enum[T]) String() string { return e.Value.String() }

// Set sets e to the value named s, or says which names there are.
func (e *Enum[T]) Set(s string) error {
	names := make([]string, len(e.Of))
	for i, v := range e.Of {
		if names[i] = v.String(); s == names[i] {
			e.Value = v
			return nil
		}
	}
	return fmt.Errorf("unknown %s; want %s", e.Kind, words.Or(names))
}

// Type is e's Kind, upper-cased, as help shows a value with no name.
func (e *Enum[T]) Type() string { return strings.ToUpper(e.Kind) }

// Addrs is a flag value holding a comma-separated list of IP addresses,
// each IPv4 or IPv6, without a zone, and listed once. Setting it again
// replaces the list.
type Addrs []netip.Addr

func (v *Addrs) String() string {
	parts := make([]string, len(*v))
	for i, a := range *v {
		parts[i] = a.String()
	}
	return strings.Join(parts, ",")
}

func (v *Addrs) Set(s string) error {
	*v = nil
	for _, part := range strings.Split(s, ",") {
		a, err := netip.ParseAddr(strings.TrimSpace(part))
		if err != nil || a.Zone() != "" || a.Is4In6() {
			return fmt.Errorf("%q is not an IPv4 or IPv6 address", part)
		}
		if slices.Contains(*v, a) {
			return fmt.Errorf("%s is listed twice", a)
		}
		*v = append(*v, a)
	}
	return nil
}

// Type is ADDRS, as help shows a value with no name.
func (v *Addrs) Type() string { return "ADDRS" }
