package ir

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Host name limits of RFC 1035. dom0 checks neither, but the Linux agent's
// IDNA encoding fails on a label over 63 bytes, which blocks the whole qube.
const (
	maxHostLen  = 253
	maxLabelLen = 63
)

// ParseDst parses the destination of a rule: an IPv4 or IPv6 address (a /32
// or /128 prefix), a prefix in CIDR notation, or a lowercase DNS host name.
//
// It accepts a subset of what dom0 accepts for dsthost. Beyond dom0's checks
// it rejects what dom0 stores but firewall qubes enforce differently or not
// at all: empty and malformed host names, names that resolvers read as
// numeric IPv4 addresses (inet_aton rules), prefixes with host bits set or a
// zero-padded length, IPv4-mapped IPv6 addresses and zones. IPv6 addresses
// are canonicalised.
func ParseDst(s string) (Dst, error) {
	if s == "" {
		return Dst{}, errors.New("empty destination; want an IP address, a prefix or a host name")
	}
	host, length, hasLength := strings.Cut(s, "/")
	if strings.Contains(length, "/") {
		return Dst{}, fmt.Errorf("destination %q has more than one \"/\"", s)
	}
	if host == "" {
		return Dst{}, fmt.Errorf("destination %q has no address before \"/\"", s)
	}
	addr, addrErr := netip.ParseAddr(host)
	if addrErr != nil {
		if err := checkHost(host, addrErr); err != nil {
			return Dst{}, err
		}
		if hasLength {
			return Dst{}, fmt.Errorf("host name %q cannot have a prefix length; only IP addresses can", host)
		}
		return Dst{Host: host}, nil
	}
	if addr.Zone() != "" {
		return Dst{}, fmt.Errorf("IPv6 address %q has a zone; zones are not allowed", host)
	}
	bits := addr.BitLen()
	if hasLength {
		var err error
		if bits, err = parsePrefixLen(s, length, addr); err != nil {
			return Dst{}, err
		}
	}
	p := netip.PrefixFrom(addr, bits)
	if err := checkPrefix(s, p); err != nil {
		return Dst{}, err
	}
	return Dst{Prefix: p}, nil
}

// parsePrefixLen parses the length of prefix s: decimal digits with no
// leading zero, as nft rejects "1.2.3.4/08" that dom0 stores.
func parsePrefixLen(s, length string, addr netip.Addr) (int, error) {
	if !isDigits(length) {
		return 0, fmt.Errorf("prefix length %q in %q is not a decimal number", length, s)
	}
	if hasLeadingZero(length) {
		return 0, fmt.Errorf("prefix length %q in %q has a leading zero; write %q", length, s, trimZeros(length))
	}
	n, err := strconv.Atoi(length)
	if err != nil || n > addr.BitLen() {
		family := 6
		if addr.Is4() {
			family = 4
		}
		return 0, fmt.Errorf("prefix length %q in %q is out of range; IPv%d allows 0 to %d", length, s, family, addr.BitLen())
	}
	return n, nil
}

// checkPrefix rejects the prefixes that dom0 stores but the agents do not
// enforce as written; s is the prefix as the user wrote it.
func checkPrefix(s string, p netip.Prefix) error {
	addr := p.Addr()
	if addr.Is4In6() {
		// The Linux agent puts it in the IPv6 chain only, and IPv4 packets
		// never carry a mapped address, so the rule could never match.
		msg := fmt.Sprintf("%q is an IPv4-mapped IPv6 address, which firewall qubes treat as IPv6, so it never matches IPv4 traffic", s)
		if p.Bits() >= 96 {
			v4 := netip.PrefixFrom(addr.Unmap(), p.Bits()-96).String()
			if !strings.Contains(s, "/") {
				v4 = addr.Unmap().String()
			}
			msg += fmt.Sprintf("; write %q", v4)
		}
		return errors.New(msg)
	}
	// Reject rather than mask: a user who wrote 4.4.4.4/24 may have meant
	// one host, and qfw never widens a rule silently.
	if m := p.Masked(); m != p {
		return fmt.Errorf("prefix %q has host bits set; write %q", s, m.String())
	}
	return nil
}

// checkHost reports whether host, which is not an IP address, is a host
// name; addrErr is why netip did not parse it as an address.
func checkHost(host string, addrErr error) error {
	if strings.Contains(host, ":") {
		return fmt.Errorf("invalid IPv6 address %q: %s", host, addrReason(host, addrErr))
	}
	for i := 0; i < len(host); i++ {
		switch c := host[i]; {
		case IsHostChar(c):
		case 'A' <= c && c <= 'Z':
			// dom0 rejects uppercase names too; DNS ignores case, so the
			// lowercase spelling is what the user wants.
			return fmt.Errorf("host name %q has uppercase letters; write %q", host, strings.ToLower(host))
		default:
			return fmt.Errorf("host name %q contains %q; allowed are a-z, 0-9, \"-\", \".\" and \"_\"", host, charAt(host, i))
		}
	}
	if len(host) > maxHostLen {
		return fmt.Errorf("host name %q is %d bytes long; at most %d are allowed", host, len(host), maxHostLen)
	}
	labels := strings.Split(host, ".")
	for _, l := range labels {
		switch {
		case l == "":
			return fmt.Errorf("host name %q has an empty label; labels are separated by single dots, with none at either end", host)
		case len(l) > maxLabelLen:
			return fmt.Errorf("host name %q has a label of %d bytes; at most %d are allowed", host, len(l), maxLabelLen)
		case l[0] == '-' || l[len(l)-1] == '-':
			return fmt.Errorf("label %q of host name %q starts or ends with \"-\"", l, host)
		}
	}
	if isNumericName(labels) {
		// dom0 stores these as names, and getaddrinfo in the firewall qube
		// then reads them as IPv4 addresses with inet_aton rules, so
		// 010.1.1.1 would mean 8.1.1.1.
		if a, ok := inetAton(labels); ok {
			return fmt.Errorf("%q is not a dotted-quad IPv4 address, but resolvers read it as %s; write %q", host, a, a.String())
		}
		return fmt.Errorf("%q is neither an IPv4 address nor a host name; an IPv4 address is four decimal numbers from 0 to 255 without leading zeros", host)
	}
	return nil
}

// IsHostChar reports whether dom0 allows c in a host name: a-z, 0-9, "-",
// "." and "_".
func IsHostChar(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_'
}

// addrReason returns netip's reason for rejecting s, without the
// "ParseAddr(...)" prefix that would repeat the input.
func addrReason(s string, err error) string {
	return strings.TrimPrefix(err.Error(), "ParseAddr("+strconv.Quote(s)+"): ")
}

// isNumericName reports whether every label is what inet_aton takes for a
// number: decimal digits, or hexadecimal after "0x". Octal labels are
// decimal digits too.
func isNumericName(labels []string) bool {
	for _, l := range labels {
		if h, ok := strings.CutPrefix(l, "0x"); ok {
			l = h
			if strings.Trim(l, "0123456789abcdef") != "" {
				return false
			}
			continue
		}
		if !isDigits(l) {
			return false
		}
	}
	return true
}

// inetAton interprets labels as glibc's inet_aton does: one to four parts,
// each decimal, octal with a leading 0, or hexadecimal with 0x; all parts but
// the last are single bytes and the last fills the remaining bytes.
func inetAton(labels []string) (netip.Addr, bool) {
	if len(labels) > 4 {
		return netip.Addr{}, false
	}
	var n uint64
	for i, l := range labels {
		base := 10
		switch {
		case strings.HasPrefix(l, "0x"):
			base, l = 16, l[2:]
		case len(l) > 1 && l[0] == '0':
			base, l = 8, l[1:]
		}
		v, err := strconv.ParseUint(l, base, 64)
		if err != nil {
			return netip.Addr{}, false
		}
		width := 8
		if i == len(labels)-1 {
			width = 8 * (5 - len(labels))
		}
		if v >= 1<<width {
			return netip.Addr{}, false
		}
		n = n<<width | v
	}
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

// ParsePortRange parses "N" or "N-M": decimal ports from 0 to 65535 without
// leading zeros (dom0 also takes "+80", "0080" and "1_0"), first <= last.
func ParsePortRange(s string) (PortRange, error) {
	if s == "" {
		return PortRange{}, errors.New("empty port range; want \"N\" or \"N-M\"")
	}
	first, last, isRange := strings.Cut(s, "-")
	if !isRange {
		p, err := parsePort(s, s)
		return PortRange{First: p, Last: p}, err
	}
	if first == "" || last == "" || strings.Contains(last, "-") {
		return PortRange{}, fmt.Errorf("port range %q: want \"N\" or \"N-M\"", s)
	}
	lo, err := parsePort(first, s)
	if err != nil {
		return PortRange{}, err
	}
	hi, err := parsePort(last, s)
	if err != nil {
		return PortRange{}, err
	}
	if lo > hi {
		return PortRange{}, fmt.Errorf("port range %q is reversed; want the lower port first", s)
	}
	return PortRange{First: lo, Last: hi}, nil
}

// parsePort parses p, one port of the range s.
func parsePort(p, s string) (uint16, error) {
	// Every port of every rule is parsed: the words of the error are
	// written only for a port in error.
	if isDigits(p) && !hasLeadingZero(p) {
		if n, err := strconv.ParseUint(p, 10, 16); err == nil {
			return uint16(n), nil
		}
	}
	what := fmt.Sprintf("port %q", p)
	if p != s {
		what += fmt.Sprintf(" in %q", s)
	}
	n, err := parseDecimal(what, p, 0, 65535)
	if errors.Is(err, errOutOfRange) {
		return 0, fmt.Errorf("%s is out of range; ports are 0 to 65535", what)
	}
	return uint16(n), err
}

// errOutOfRange is the error, wrapped, of a number outside its range.
var errOutOfRange = errors.New("out of range")

// ParseDecimal parses s, the value of what (an option, such as "icmptype
// \"8\""), as a decimal number from lo to hi without leading zeros: dom0
// also takes leading zeros but writes numbers without them, so only this
// form reads back as written.
func ParseDecimal(what, s string, lo, hi int64) (int64, error) {
	n, err := parseDecimal(what, s, lo, hi)
	if errors.Is(err, errOutOfRange) {
		return 0, fmt.Errorf("%s is out of range; want %d to %d", what, lo, hi)
	}
	return n, err
}

func parseDecimal(what, s string, lo, hi int64) (int64, error) {
	if !isDigits(s) {
		return 0, fmt.Errorf("%s is not a decimal number", what)
	}
	if hasLeadingZero(s) {
		return 0, fmt.Errorf("%s has a leading zero; write %q", what, trimZeros(s))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, errOutOfRange
	}
	return n, nil
}

// ParseAction parses an action as Qubes rules write it.
func ParseAction(s string) (Action, error) {
	switch s {
	case "accept":
		return Accept, nil
	case "drop":
		return Drop, nil
	}
	return 0, fmt.Errorf("invalid action %q; want accept or drop", s)
}

// ParseProto parses a protocol as Qubes rules write it.
func ParseProto(s string) (Proto, error) {
	switch s {
	case "tcp":
		return TCP, nil
	case "udp":
		return UDP, nil
	case "icmp":
		return ICMP, nil
	}
	return 0, fmt.Errorf("invalid proto %q; want tcp, udp or icmp", s)
}

// commentPunct is the punctuation dom0 allows in an option's value, and in
// a comment, besides letters, digits and (in a comment) space.
const commentPunct = ":;,./_[]-"

// IsValueChar reports whether dom0 allows c in the value of a rule's option
// (RuleOption's safe set): ASCII letters, digits and :;,./_[]-. A comment
// also allows space.
func IsValueChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(commentPunct, c) >= 0
}

// CheckComment reports whether s may be a rule's comment: dom0 allows
// ASCII letters, digits, space and :;,./_[]- (so never "=", which would end
// the comment on the next parse). qfw also rejects leading and trailing
// spaces, which no listing shows and a trimmed line loses, so the stored
// comment could silently differ from the policy's.
func CheckComment(s string) error {
	for i := 0; i < len(s); i++ {
		if c := s[i]; IsValueChar(c) || c == ' ' {
			continue
		}
		return fmt.Errorf("comment %q contains %q; allowed are letters, digits, space and %s", s, charAt(s, i), commentPunct)
	}
	if strings.HasPrefix(s, " ") || strings.HasSuffix(s, " ") {
		return fmt.Errorf("comment %q starts or ends with a space", s)
	}
	return nil
}

// charAt returns the character starting at byte i of s, or the single byte
// if it is not valid UTF-8.
func charAt(s string, i int) string {
	_, size := utf8.DecodeRuneInString(s[i:])
	return s[i : i+size]
}

// isDigits reports whether s is one or more ASCII decimal digits.
func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// hasLeadingZero reports whether the digits s have a leading zero.
func hasLeadingZero(s string) bool { return len(s) > 1 && s[0] == '0' }

// trimZeros returns the digits s without leading zeros.
func trimZeros(s string) string {
	if t := strings.TrimLeft(s, "0"); t != "" {
		return t
	}
	return "0"
}
