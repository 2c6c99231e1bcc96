// Package words writes the counted nouns and the lists of choices of
// qfw's messages, as in "1 qube", "3 rules" and "tcp, udp or icmp", so
// that every command counts and lists alike. It is a leaf: it imports
// nothing of qfw.
package words
