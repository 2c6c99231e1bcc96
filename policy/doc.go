// Package policy loads a qfw policy: the user's CUE package, single CUE,
// JSON or YAML files, and the inventory of qubes, evaluated against the
// embedded [schema] and decoded into Go values that keep the user's source
// positions.
//
// Loading checks the structure of a policy (field names, types, required
// fields, conflicting definitions), and that every file meant to be part
// of it is: a CUE file that CUE's loader would leave out, a hidden field
// or definition inside a qube, a key given twice in JSON or YAML, are
// refused at their position rather than ignored. The inventory is checked
// as closely: its keys, its qube names as Qubes takes them, its netvms and
// addresses. CUE's messages are restated in the policy's words. The
// meaning of a policy's values (addresses, ports, host names) is checked
// by the compiler.
//
// Diagnostics are cue/errors Errors made by [Errorf]; a warning made by
// [Warnf] has a [Kind] too, by which a rule or qube acknowledges the
// warnings it is meant to have (its ack field).
package policy
