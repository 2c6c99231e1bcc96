// Package ir defines the intermediate representation that qfw compiles a
// policy into: per qube, an ordered list of rules in the Qubes firewall rule
// model, each carrying where in the policy it came from. Every backend reads
// this representation; none of them writes it.
package ir
