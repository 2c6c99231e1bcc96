package schema

import _ "embed"

// Version is the version of the policy language this package defines.
const Version = "v1"

//go:embed schema.cue
var source string

// Source returns the CUE text of the schema. Its #Policy definition closes
// the top level of a policy.
func Source() string { return source }

// Filename is the name the schema carries in positions, so that errors can
// tell the schema's positions from the user's.
const Filename = "qfw/schema/schema.cue"
