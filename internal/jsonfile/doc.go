// Package jsonfile reads the JSON files qfw writes for itself and reads
// back (saved plans, state files, apply records, the agent's status),
// which come back as hostile input: anyone may have edited them. A file is
// read as a tree of values that remember where they start, so that every
// mistake, down to an unknown or repeated field, is reported at its line
// and column with the field's path, in qfw's words. It is a leaf: it
// imports nothing of qfw.
package jsonfile
