package mirage

import (
	"errors"
	"fmt"
	"strings"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// FormatRule returns r in the positional dialect of the unikernel's parser
// (pf-qubes, Parse_qubes), which is what dom0 writes to QubesDB:
//
//	action=A [dst4=P | dst6=P | dsthost=H] [proto=T] [specialtarget=dns]
//	[dstports=LO-HI] [icmptype=N]
//
// The parser takes the options in this order only, dstports only after
// proto=tcp or proto=udp and always as LO-HI, icmptype only after
// proto=icmp, and neither expire nor comment, which dom0 keeps to itself:
// exactly [ir.QubesDBLine] of a valid rule.
func FormatRule(r ir.Rule) string { return ir.QubesDBLine(r) }

// Domain name limits of the unikernel's parser (Domain_name.of_string):
// a label has 1 to 63 bytes, and the name's wire length (a length byte
// per label, then the root's) is at most 255.
const (
	maxLabelLen = 63
	maxWireLen  = 255
)

// checkHost reports why the unikernel's parser would reject host as the
// value of dsthost=, or nil if it accepts it. The parser reads the name
// with Domain_name.of_string, then Domain_name.host: labels of letters,
// digits and "-", none starting with "-", and a last label with at least
// one letter. Qubes also allows "_" and an all-numeric last label, which
// the unikernel refuses, so a rule dom0 stores can still fail to parse.
func checkHost(host string) error {
	if host == "" {
		return errors.New("empty host name")
	}
	// Domain_name.of_string takes "example.com." as "example.com".
	name := strings.TrimSuffix(host, ".")
	labels := strings.Split(name, ".")
	wire := 1
	for _, l := range labels {
		wire += 1 + len(l)
		switch {
		case l == "":
			return fmt.Errorf("host name %q has an empty label", host)
		case len(l) > maxLabelLen:
			return fmt.Errorf("host name %q has a label of %d bytes; at most %d are allowed", host, len(l), maxLabelLen)
		case l[0] == '-':
			return fmt.Errorf("label %q of host name %q starts with \"-\"", l, host)
		}
		for i := 0; i < len(l); i++ {
			if !isLDH(l[i]) {
				return fmt.Errorf("host name %q contains %q; the unikernel allows only letters, digits and \"-\" in host names", host, l[i:i+1])
			}
		}
	}
	if wire > maxWireLen {
		return fmt.Errorf("host name %q is %d bytes long; at most %d are allowed", host, len(name), maxWireLen-2)
	}
	if tld := labels[len(labels)-1]; !strings.ContainsFunc(tld, isLetter) {
		return fmt.Errorf("host name %q ends in the all-numeric label %q; the unikernel needs a letter in the last label", host, tld)
	}
	return nil
}

// isLDH reports whether c is a letter, a digit or a hyphen.
func isLDH(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-'
}

// isLetter reports whether r is an ASCII letter.
func isLetter(r rune) bool { return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' }
