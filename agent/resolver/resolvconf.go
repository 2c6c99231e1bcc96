package resolver

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// glibc's limits (resolv.h): at most three name servers, a timeout of at
// most 30 seconds and at most five attempts.
const (
	maxServers     = 3
	defaultTimeout = 5 * time.Second
	maxTimeout     = 30 * time.Second
	defaultTries   = 2
	maxTries       = 5
	// maxConfSize bounds what is read of a resolv.conf: a real one is a
	// few lines.
	maxConfSize = 64 << 10
)

// Conf is what a resolv.conf says about reaching name servers, read as
// glibc's resolver reads it.
type Conf struct {
	// Servers are the name servers, in the file's order: at most three,
	// as glibc takes. An IPv6 link-local server keeps its zone.
	Servers []netip.Addr
	// Timeout is how long one query waits for one server's answer
	// (options timeout:N, 5 seconds unless set, at most 30).
	Timeout time.Duration
	// Attempts is how many times the servers are tried in turn (options
	// attempts:N, 2 unless set, at most 5).
	Attempts int
	// TCP says to query over TCP from the start (options use-vc).
	TCP bool
	// Ignored says which lines, or parts of lines, were left out and
	// why, as "line N: reason": glibc leaves them out silently.
	Ignored []string
}

// ParseResolvConf reads a resolv.conf as glibc does: a line is a keyword
// at its very start followed by a space or a tab, and lines that are not
// (comments starting with "#" or ";", unknown keywords, blank lines) are
// skipped; a nameserver line's first word is the address and the rest is
// ignored; a fourth server and later ones are ignored. It is stricter than
// glibc in one way: an IPv4 address must be in dotted-quad form without
// leading zeros (glibc's inet_aton also takes "127.1" and octal "010.1.1.1",
// which mean other addresses than they seem to). What it leaves out, it
// lists in Ignored.
func ParseResolvConf(data []byte) Conf {
	c := Conf{Timeout: defaultTimeout, Attempts: defaultTries}
	if len(data) > maxConfSize {
		c.Ignored = append(c.Ignored, fmt.Sprintf("the file is longer than %d bytes; the rest is ignored", maxConfSize))
		data = data[:maxConfSize]
	}
	for n, line := range bytes.Split(data, []byte("\n")) {
		ignore := func(format string, args ...any) {
			c.Ignored = append(c.Ignored, fmt.Sprintf("line %d: ", n+1)+fmt.Sprintf(format, args...))
		}
		s := strings.TrimSuffix(string(line), "\r")
		keyword, rest := s, ""
		if i := strings.IndexAny(s, " \t"); i >= 0 {
			keyword, rest = s[:i], s[i+1:]
		}
		switch keyword {
		case "nameserver":
			fields := strings.Fields(rest)
			switch {
			case len(fields) == 0:
				ignore("nameserver without an address")
			case len(c.Servers) == maxServers:
				ignore("nameserver %q: glibc takes %d servers at most", fields[0], maxServers)
			default:
				a, err := netip.ParseAddr(fields[0])
				if err != nil || a.Is4In6() {
					ignore("nameserver %q: not an IPv4 or IPv6 address", fields[0])
					continue
				}
				c.Servers = append(c.Servers, a)
			}
		case "options":
			for _, opt := range strings.Fields(rest) {
				c.option(opt, ignore)
			}
		case "domain", "search", "sortlist":
			// Names are resolved as given, fully qualified: a dsthost is
			// not completed with a search domain.
		default:
			switch {
			case strings.TrimSpace(s) == "" || s[0] == '#' || s[0] == ';':
			case keyword == "":
				ignore("the line does not start with a keyword")
			default:
				ignore("unknown keyword %q", keyword)
			}
		}
	}
	return c
}

// option applies one word of an options line.
func (c *Conf) option(opt string, ignore func(string, ...any)) {
	name, value, hasValue := strings.Cut(opt, ":")
	number := func(limit int) (int, bool) {
		n, err := strconv.Atoi(value)
		if !hasValue || err != nil || n < 0 || value[0] == '+' {
			ignore("option %q: want %s:N with N a number", opt, name)
			return 0, false
		}
		return min(n, limit), true
	}
	switch name {
	case "timeout":
		if n, ok := number(int(maxTimeout / time.Second)); ok {
			c.Timeout = max(time.Duration(n)*time.Second, time.Second)
		}
	case "attempts":
		if n, ok := number(maxTries); ok {
			c.Attempts = max(n, 1)
		}
	case "use-vc", "usevc":
		c.TCP = true
	case "ndots", "rotate", "edns0", "single-request", "single-request-reopen",
		"no-tld-query", "no-reload", "trust-ad", "no-aaaa", "inet6", "debug",
		"insecure1", "insecure2", "no-check-names", "ip6-bytestring", "ip6-dotint", "no-ip6-dotint":
		// Options that do not change how qfw asks for a name's
		// addresses: it sends one query at a time, with EDNS0, fully
		// qualified, and asks AAAA for IPv6 whatever no-aaaa says.
	default:
		ignore("unknown option %q", opt)
	}
}

// servers returns the servers to query: those of c, or, as glibc does when
// a resolv.conf names none, the local host.
func (c *Conf) servers() []netip.Addr {
	if len(c.Servers) == 0 {
		return []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1})}
	}
	return c.Servers
}
