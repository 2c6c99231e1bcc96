// Package par runs independent pieces of work on every processor.
//
// It imports nothing of qfw, and sits in the compiler's tree, beside ir and
// space, so that the compiler and everything above it can use it while
// every import still points downward.
package par
