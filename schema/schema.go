package schema

import _ "embed"

// Version is the version of the policy language this package defines.
const Version = "v1"

// Source is the CUE text of the schema. Its #Policy definition closes the
// top level of a policy.
//
//go:embed schema.cue
var Source []byte

// Filename is the name the schema carries in positions, so that errors can
// tell the schema's positions from the user's.
const Filename = "qfw/schema/schema.cue"
