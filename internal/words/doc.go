// Package words writes the counted nouns of qfw's messages, as in
// "1 qube" and "3 rules", so that every command counts alike. It is a
// leaf: it imports nothing of qfw.
package words
