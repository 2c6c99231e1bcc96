// Package policy loads a qfw policy: the user's CUE package, single CUE,
// JSON or YAML files, and the inventory of qubes, evaluated against the
// embedded [schema] and decoded into Go values that keep the user's source
// positions.
//
// Loading checks the structure of a policy (field names, types, required
// fields, conflicting definitions). The meaning of its values (addresses,
// ports, names of qubes) is checked by the compiler.
package policy
