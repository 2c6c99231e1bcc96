package resolver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Why a name has no addresses in a family: Failure's error wraps one.
var (
	// ErrNoName: the servers say the name does not exist (NXDOMAIN).
	ErrNoName = errors.New("no such name")
	// ErrNoRecords: the name exists, without addresses of the family.
	ErrNoRecords = errors.New("no address records")
	// ErrServerFailure: every server that answered failed (SERVFAIL,
	// REFUSED, an answer to another question).
	ErrServerFailure = errors.New("the name servers failed")
	// ErrNoAnswer: no server answered in time.
	ErrNoAnswer = errors.New("no name server answered")
	// ErrBadName: the name is not a host name, and is not looked up.
	ErrBadName = errors.New("not a host name")
)

const (
	// maxChain bounds the queries a chain of CNAMEs may take.
	maxChain = 8
	// udpSize is the EDNS0 buffer size offered: the size that avoids IP
	// fragmentation on the Internet (DNS flag day 2020). A longer answer
	// comes truncated, and is asked again over TCP.
	udpSize = 1232
)

// querier looks names up with one reading of the resolv.conf.
type querier struct {
	conf           Conf
	port           uint16
	timeout        time.Duration
	minTTL, maxTTL time.Duration
}

// result is the outcome of looking a name up in one family.
type result struct {
	// addrs, sorted and each once, are the name's addresses; none if err.
	addrs []netip.Addr
	// ttl is how long addrs hold, or, with err, when to try again (the
	// negative time to live of a name or record that does not exist),
	// clamped to [minTTL, maxTTL].
	ttl time.Duration
	err error
}

// lookup looks host up in family (4 or 6): A or AAAA records, following
// CNAMEs.
func (q *querier) lookup(ctx context.Context, host string, family int) result {
	qtype := dns.TypeA
	if family == 6 {
		qtype = dns.TypeAAAA
	}
	fail := func(ttl uint32, err error) result {
		return result{ttl: q.clamp(ttl), err: fmt.Errorf("look up %s %s: %w", host, dns.TypeToString[qtype], err)}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		// An address stands for itself, as getaddrinfo has it.
		if a.Is4() != (family == 4) || a.Zone() != "" {
			return fail(0, ErrNoRecords)
		}
		return result{addrs: []netip.Addr{a}, ttl: q.maxTTL}
	}
	if err := checkName(host); err != nil {
		return fail(0, err)
	}
	name := dns.Fqdn(strings.ToLower(host))
	// The time to live of an answer through CNAMEs is the least of all
	// the records it takes.
	ttl := uint32(q.maxTTL / time.Second)
	seen := map[string]bool{}
	for range maxChain {
		resp, err := q.query(ctx, name, qtype)
		if err != nil {
			return fail(0, err)
		}
		target, addrs, least := follow(resp, name, qtype, seen)
		ttl = min(ttl, least)
		switch {
		case target == "":
			return fail(0, fmt.Errorf("%w: a loop of CNAMEs", ErrServerFailure))
		case resp.Rcode == dns.RcodeNameError:
			return fail(negativeTTL(resp), ErrNoName)
		case len(addrs) > 0:
			slices.SortFunc(addrs, netip.Addr.Compare)
			return result{addrs: slices.Compact(addrs), ttl: q.clamp(ttl)}
		case target == name:
			return fail(negativeTTL(resp), ErrNoRecords)
		}
		// The chain leads to a name the answer does not resolve: ask
		// for it.
		name = target
	}
	return fail(0, fmt.Errorf("%w: a chain of more than %d CNAMEs", ErrServerFailure, maxChain))
}

// follow follows the CNAMEs in resp's answer from name, and returns where
// the chain ends, the addresses of type qtype the answer gives for that
// name, and the least time to live of the records taken. Records of other
// owners are ignored: a server answers for the names asked about, and any
// other record in the answer is not to be believed. It returns "" for a
// loop.
func follow(resp *dns.Msg, name string, qtype uint16, seen map[string]bool) (string, []netip.Addr, uint32) {
	least := ^uint32(0)
	for {
		if seen[name] {
			return "", nil, 0
		}
		seen[name] = true
		next := ""
		for _, rr := range resp.Answer {
			h := rr.Header()
			if c, ok := rr.(*dns.CNAME); ok && h.Class == dns.ClassINET && strings.EqualFold(h.Name, name) {
				next, least = strings.ToLower(dns.Fqdn(c.Target)), min(least, h.Ttl)
				break
			}
		}
		if next == "" {
			break
		}
		name = next
	}
	var addrs []netip.Addr
	for _, rr := range resp.Answer {
		h := rr.Header()
		if h.Class != dns.ClassINET || h.Rrtype != qtype || !strings.EqualFold(h.Name, name) {
			continue
		}
		var a netip.Addr
		switch v := rr.(type) {
		case *dns.A:
			a, _ = netip.AddrFromSlice(v.A.To4())
		case *dns.AAAA:
			a, _ = netip.AddrFromSlice(v.AAAA.To16())
		}
		if a.IsValid() {
			addrs = append(addrs, a)
			least = min(least, h.Ttl)
		}
	}
	// seen holds the chain's names; the last is asked next, if need be.
	delete(seen, name)
	return name, addrs, least
}

// negativeTTL is how long an answer that a name or its records do not
// exist holds: the least of the SOA record's time to live and its minimum
// field (RFC 2308); 0, to be clamped up, without one.
func negativeTTL(resp *dns.Msg) uint32 {
	for _, rr := range resp.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return min(soa.Hdr.Ttl, soa.Minttl)
		}
	}
	return 0
}

// clamp turns a time to live in seconds into a duration within [minTTL,
// maxTTL].
func (q *querier) clamp(ttl uint32) time.Duration {
	return min(max(time.Duration(ttl)*time.Second, q.minTTL), q.maxTTL)
}

// query asks the servers in turn, as glibc does, for the records of qtype
// of name, attempts times at most, and returns the first answer that says
// what they are or that the name does not exist.
func (q *querier) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	var last error
	for range max(q.conf.Attempts, 1) {
		for _, s := range q.conf.servers() {
			m := new(dns.Msg)
			m.SetQuestion(name, qtype)
			m.RecursionDesired = true
			m.SetEdns0(udpSize, false)
			resp, err := q.exchange(ctx, s, m)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if err != nil {
				last = err
				continue
			}
			switch resp.Rcode {
			case dns.RcodeSuccess, dns.RcodeNameError:
				return resp, nil
			}
			last = fmt.Errorf("%w: %s answered %s", ErrServerFailure, s, dns.RcodeToString[resp.Rcode])
		}
	}
	return nil, last
}

// exchange sends m to server s over UDP, and again over TCP if the answer
// comes truncated (or over TCP only, with use-vc), and checks that the
// answer is to m's question.
func (q *querier) exchange(ctx context.Context, s netip.Addr, m *dns.Msg) (*dns.Msg, error) {
	addr := netip.AddrPortFrom(s, q.port).String()
	ctx, cancel := context.WithTimeout(ctx, q.timeout)
	defer cancel()
	c := &dns.Client{Net: "udp", UDPSize: udpSize}
	if q.conf.TCP {
		c.Net = "tcp"
	}
	resp, _, err := c.ExchangeContext(ctx, m, addr)
	if err == nil && resp.Truncated && c.Net == "udp" {
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(ctx, m, addr)
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %s over %s: %v", ErrNoAnswer, addr, c.Net, err)
	case !resp.Response || resp.Id != m.Id || len(resp.Question) != 1 ||
		!strings.EqualFold(resp.Question[0].Name, m.Question[0].Name) ||
		resp.Question[0].Qtype != m.Question[0].Qtype || resp.Question[0].Qclass != m.Question[0].Qclass:
		return nil, fmt.Errorf("%w: %s answered another question", ErrServerFailure, addr)
	case resp.Truncated:
		return nil, fmt.Errorf("%w: %s answered truncated over TCP", ErrServerFailure, addr)
	}
	return resp, nil
}

// checkName checks that host is a host name: labels of 1 to 63 letters,
// digits, "-" (not first or last) and "_", 253 characters at most, an
// optional final dot.
func checkName(host string) error {
	name := strings.TrimSuffix(host, ".")
	if name == "" || len(name) > 253 {
		return fmt.Errorf("%w: %d characters", ErrBadName, len(name))
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("%w: a label of %d characters", ErrBadName, len(label))
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%w: a label starts or ends with \"-\"", ErrBadName)
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("%w: %q is not allowed", ErrBadName, c)
			}
		}
	}
	return nil
}
