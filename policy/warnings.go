package policy

import (
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"
)

// Kind names a kind of warning. Kinds are stable: a rule acknowledges the
// warnings it is meant to have by kind (ack: ["expired"]), and tools read
// them in qfw vet --format json.
type Kind string

// The kinds of warning. Those a rule can acknowledge are in [AckKinds].
const (
	// Expired is a rule past its expire time, which dom0 drops.
	Expired Kind = "expired"
	// Hostname is a rule to a host name, which the firewall qube resolves
	// and enforces by address.
	Hostname Kind = "hostname"
	// Redundant is a rule whose packets earlier rules of its own verdict
	// all decide first.
	Redundant Kind = "redundant"
	// Shadowed is a rule that never takes effect, as its shadowed: true
	// says.
	Shadowed Kind = "shadowed"
	// PortZero is a service with port 0, which no connection uses.
	PortZero Kind = "port-zero"
	// Unresolved is a rule to a name that the resolve section gives no
	// address in a family its qube has an address in.
	Unresolved Kind = "unresolved"
	// NoNetvm is a networked qube without a netvm: no firewall enforces
	// its rules.
	NoNetvm Kind = "no-netvm"
	// Unikernel is a difference in what a unikernel firewall enforces.
	Unikernel Kind = "unikernel"
	// ShadowedTakesEffect is a rule that says shadowed: true but takes
	// effect: the annotation is stale.
	ShadowedTakesEffect Kind = "shadowed-takes-effect"
	// UnusedAck is an acknowledgement that matches no warning: stale, as
	// the warning it was for is gone.
	UnusedAck Kind = "unused-ack"
)

// AckKinds are the kinds a rule may acknowledge, sorted, and
// QubeAckKinds those a qube may. The others are about the policy's own
// annotations (a stale shadowed: true, a stale ack), fixed by removing
// them, or about what a unikernel firewall makes of a list.
var (
	AckKinds     = []Kind{Expired, Hostname, PortZero, Redundant, Shadowed, Unresolved}
	QubeAckKinds = []Kind{NoNetvm}
)

// Warnf returns a warning of kind k at pos about the value at path, as
// [Errorf] returns an error.
func Warnf(k Kind, pos token.Pos, path string, format string, args ...any) errors.Error {
	e := Errorf(pos, path, format, args...).(*posError)
	e.kind = k
	return e
}

// WarnfAlso is Warnf for a warning that is about further places too.
func WarnfAlso(k Kind, pos token.Pos, also []token.Pos, path string, format string, args ...any) errors.Error {
	e := Warnf(k, pos, path, format, args...).(*posError)
	e.inputs = also
	return e
}

// KindOf returns the kind of warning e, or "" if it has none.
func KindOf(e errors.Error) Kind {
	if k, ok := e.(interface{ Kind() Kind }); ok {
		return k.Kind()
	}
	return ""
}

// Kind returns the kind of the warning, or "" for an error.
func (e *posError) Kind() Kind { return e.kind }
