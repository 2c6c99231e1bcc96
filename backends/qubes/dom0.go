package qubes

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// Dom0Rule is one rule as dom0 holds it: each option's value as dom0
// stores and returns it, "" for an option not set.
type Dom0Rule struct {
	Action, Expire string
	// DstKey is dst4, dst6 or dsthost, as the value's type decides, or ""
	// without a destination; Dst may be empty under dsthost.
	DstKey, Dst                 string
	Proto, SpecialTarget        string
	DstPorts, ICMPType, Comment string
}

// ParseDom0Rule parses one Admin API line with dom0's own grammar
// (Rule.from_api_string), which is wider than [ParseRule]'s: it takes what
// dom0 stores even where the firewall agents mishandle it (host bits set,
// "+80" ports, an empty host name), and refuses what dom0 refuses, with
// the reason in qfw's words. It is for lines read back from dom0, or from
// files standing for what dom0 holds: such a line is what is in force,
// whether or not qfw would ever write it.
func ParseDom0Rule(line string) (Dom0Rule, error) {
	var r Dom0Rule
	for i := 0; i < len(line); i++ {
		if line[i] >= 0x80 {
			return Dom0Rule{}, errors.New("a non-ASCII character")
		}
	}
	if strings.Trim(line, " \t\n\r\v\f") == "" {
		return Dom0Rule{}, errors.New("an empty line")
	}
	rest := line
	if i := strings.Index(line, commentKey); i >= 0 {
		rest = line[:i]
		comment := line[i+len(commentKey):]
		for j := 0; j < len(comment); j++ {
			if c := comment[j]; c != ' ' && !ir.IsValueChar(c) {
				return Dom0Rule{}, fmt.Errorf("comment %q holds %s; a comment takes letters, digits, spaces and :;,./_[]-", comment, quoteByte(c))
			}
		}
		r.Comment = comment
	}
	// dom0 strips the options (Python's str.strip, ASCII whitespace here as
	// the line is ASCII) and splits them on single spaces.
	rest = strings.Trim(rest, " \t\n\r\v\f")
	seen := map[string]bool{}
	for tok := range strings.SplitSeq(rest, " ") {
		key, value, ok := strings.Cut(tok, "=")
		if !ok {
			if tok == "" {
				return Dom0Rule{}, errors.New("an empty option; options are key=value, separated by single spaces")
			}
			return Dom0Rule{}, fmt.Errorf("option %q has no \"=\"; want key=value", tok)
		}
		if key, ok = optionKey(key); !ok {
			return Dom0Rule{}, fmt.Errorf("unknown firewall option %q", key)
		}
		if seen[key] {
			return Dom0Rule{}, fmt.Errorf("option %q set twice", key)
		}
		seen[key] = true
		if err := r.set(key, value); err != nil {
			return Dom0Rule{}, err
		}
	}
	switch {
	case r.Action == "":
		return Dom0Rule{}, errors.New("no action; want action=accept or action=drop")
	case r.DstPorts != "" && r.Proto != "tcp" && r.Proto != "udp":
		return Dom0Rule{}, errors.New("dstports without proto=tcp or proto=udp")
	case r.ICMPType != "" && r.Proto != "icmp":
		return Dom0Rule{}, errors.New("icmptype without proto=icmp")
	}
	return r, nil
}

// set checks one option's value as dom0 does and stores it as dom0 keeps it.
// dom0 takes the actions and protocols [ir] parses, but more numbers and
// destinations than ir's parsers do, so those are read here.
func (r *Dom0Rule) set(key, value string) error {
	switch key {
	case "action":
		if _, err := ir.ParseAction(value); err != nil {
			return fmt.Errorf("action %q; want accept or drop", value)
		}
		r.Action = value
	case "proto":
		if _, err := ir.ParseProto(value); err != nil {
			return fmt.Errorf("proto %q; want tcp, udp or icmp", value)
		}
		r.Proto = value
	case "specialtarget":
		if value != "dns" {
			return fmt.Errorf("specialtarget %q; want dns", value)
		}
		r.SpecialTarget = value
	case "dsthost":
		k, v, err := dom0Dst(value)
		if err != nil {
			return err
		}
		r.DstKey, r.Dst = k, v
	case "dstports":
		lo, hi, err := dom0Ports(value)
		if err != nil {
			return err
		}
		r.DstPorts = strconv.Itoa(lo) + "-" + strconv.Itoa(hi)
	case "icmptype":
		if len(value) > 3 || !isDigits(value) {
			return fmt.Errorf("icmptype %q; want at most 3 digits", value)
		}
		n, _ := strconv.Atoi(value)
		if n > 255 {
			return fmt.Errorf("icmptype %q is over 255", value)
		}
		r.ICMPType = strconv.Itoa(n)
	case "expire":
		if !isDigits(value) {
			return fmt.Errorf("expire %q; want UNIX seconds, in digits", value)
		}
		// Beyond year 9999 Python's datetime, and so dom0, refuses it.
		if n, err := strconv.ParseInt(value, 10, 64); err != nil || n > dom0MaxExpire {
			return fmt.Errorf("expire %q is past the year 9999", value)
		}
		r.Expire = value
	}
	return nil
}

// dom0MaxExpire is the last second of the year 9999, the latest time
// Python's datetime holds.
const dom0MaxExpire = 253402300799

// dom0Dst checks a dsthost value as dom0 does and returns the key dom0
// files it under and the value as dom0 keeps it: an address without a
// prefix gains /32 or /128, and nothing else changes.
func dom0Dst(v string) (key, value string, err error) {
	if strings.Count(v, "/") > 1 {
		return "", "", fmt.Errorf("destination %q has more than one \"/\"", v)
	}
	host, length, hasLength := strings.Cut(v, "/")
	if !hasLength {
		switch a, ok := inetPton(v); {
		case ok && a.Is6():
			return dom0Value("dst6", v+"/128")
		case ok:
			return dom0Value("dst4", v+"/32")
		}
		for i := 0; i < len(v); i++ {
			if c := v[i]; !ir.IsHostChar(c) {
				return "", "", fmt.Errorf("host name %q holds %s; a host name takes a-z, 0-9, \"-\", \".\" and \"_\"", v, quoteByte(c))
			}
		}
		return "dsthost", v, nil
	}
	if !isDigits(length) {
		return "", "", fmt.Errorf("prefix length %q in %q is not a number", length, v)
	}
	n, err := strconv.Atoi(length)
	a, ok := inetPton(host)
	switch {
	case !ok:
		return "", "", fmt.Errorf("%q in %q is not an IP address", host, v)
	case a.Is6() && (err != nil || n > 128):
		return "", "", fmt.Errorf("prefix length %q in %q is over 128", length, v)
	case a.Is6():
		return dom0Value("dst6", v)
	case err != nil || n > 32:
		return "", "", fmt.Errorf("prefix length %q in %q is over 32", length, v)
	}
	return dom0Value("dst4", v)
}

// inetPton parses s as glibc's inet_pton does, IPv6 first: an IPv4
// address is a strict dotted quad, and neither family takes a zone.
func inetPton(s string) (netip.Addr, bool) {
	if strings.Contains(s, "%") {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a, true
}

// dom0Value returns key and v, or dom0's refusal of a character in v.
func dom0Value(key, v string) (string, string, error) {
	for i := 0; i < len(v); i++ {
		if !ir.IsValueChar(v[i]) {
			return "", "", fmt.Errorf("destination %q holds %s", v, quoteByte(v[i]))
		}
	}
	return key, v, nil
}

// dom0Ports parses dstports as dom0 does, each side through Python's
// int(): a sign, underscores between digits, leading zeros and surrounding
// whitespace are all taken.
func dom0Ports(v string) (lo, hi int, err error) {
	sides := strings.Split(v, "-")
	if len(sides) > 2 {
		return 0, 0, fmt.Errorf("dstports %q has more than one \"-\"", v)
	}
	var ports [2]int
	for i, s := range sides {
		n, ok := pythonInt(s)
		if !ok {
			return 0, 0, fmt.Errorf("dstports %q: %q is not a number", v, s)
		}
		if n < 0 || n > 65535 {
			return 0, 0, fmt.Errorf("dstports %q is out of 0-65535", v)
		}
		ports[i] = n
	}
	if len(sides) == 1 {
		ports[1] = ports[0]
	}
	if ports[0] > ports[1] {
		return 0, 0, fmt.Errorf("dstports %q ends before it starts", v)
	}
	return ports[0], ports[1], nil
}

// pythonInt parses s as Python's int() parses ASCII text; values too large
// for an int are out of range anyway and reported as not ok only if they
// are not numbers.
func pythonInt(s string) (int, bool) {
	s = strings.Trim(s, " \t\n\r\v\f")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' {
			continue
		}
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < 1<<20 {
			n = n*10 + int(c-'0')
		}
	}
	if neg {
		n = -n
	}
	return n, true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func quoteByte(c byte) string {
	return strconv.QuoteRuneToASCII(rune(c))
}

// String returns r as dom0 returns it from admin.vm.firewall.Get
// (api_rule): action, expire, dst4|dst6|dsthost, proto, specialtarget,
// dstports, icmptype, comment.
func (r Dom0Rule) String() string {
	var b strings.Builder
	b.WriteString("action=" + r.Action)
	for _, o := range [...]struct{ k, v string }{
		{"expire", r.Expire}, {r.DstKey, r.Dst}, {"proto", r.Proto}, {"specialtarget", r.SpecialTarget},
		{"dstports", r.DstPorts}, {"icmptype", r.ICMPType},
	} {
		if o.v != "" || o.k == r.DstKey && r.DstKey != "" {
			b.WriteString(" " + o.k + "=" + o.v)
		}
	}
	if r.Comment != "" {
		b.WriteString(" comment=" + r.Comment)
	}
	return b.String()
}
