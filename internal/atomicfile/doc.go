// Package atomicfile writes a file through a temporary file and a rename,
// so that a reader sees the old file or the new one, never half of one:
// the files qfw writes for others to read (compiled rules, saved plans,
// apply records, the agent's status) are written this way. It is a leaf:
// it imports nothing of qfw.
package atomicfile
