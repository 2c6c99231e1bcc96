// Package diff computes what a change to the policy does to who can reach
// what: [Compare] judges every qube of two compiled policies as its
// firewall qube enforces them, exactly over the whole packet space, and
// reports, for each, the packets it gains and loses with what decides
// them on each side, and whether the change adds, removes or moves it.
// A rewriting or reordering that keeps every packet's fate is no change.
//
// [Report.JSON] is the report's JSON form; the command line renders the
// rest.
package diff
