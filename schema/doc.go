// Package schema holds the CUE schema of the qfw policy language, embedded
// in the binary. The schema is the public contract of the language: a
// policy that evaluates against it is a policy qfw accepts, up to the value
// checks that [policy.Load] and the compiler add.
package schema
