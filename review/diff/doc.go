// Package diff computes what a change to the policy does to who can reach
// what: [Load] reads the two policies, from directories or git revisions,
// and builds them; [Policies.Compare] judges every qube of the two compiled
// policies as its firewall qube enforces them, exactly over the whole
// packet space, and reports, for each, the packets it gains and loses with
// what decides them on each side, and whether the change adds, removes or
// moves it. A rewriting or reordering that keeps every packet's fate is no
// change.
//
// A [Report] is written for a reader ([Report.WriteText]), as a comment
// for a pull request ([Report.WriteMarkdown]), as JSON, format_version 1.0
// ([Report.WriteJSON], [Report.JSON]), and as qfw graph's page of the
// changes ([Report.WriteHTML], [Report.Graph]).
package diff
