package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/qfw-dev/qfw/backends/nftables"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
)

// zone is what a test name server answers: records by owner, rcodes to
// answer instead, names whose UDP answers come truncated; it counts the
// queries it gets.
type zone struct {
	mu       sync.Mutex
	records  map[string][]dns.RR // by lower-case fully qualified owner
	rcode    map[string]int
	truncate map[string]bool
	// only, if set, limits an answer to the records of its owner: a
	// server that leaves a CNAME's target to be asked for.
	only    map[string]bool
	queries []string // "udp name type"
}

func newZone() *zone {
	return &zone{records: map[string][]dns.RR{}, rcode: map[string]int{}, truncate: map[string]bool{}, only: map[string]bool{}}
}

// set replaces the records of the zone's names that rrs own; each rr is
// in zone file syntax.
func (z *zone) set(t *testing.T, rrs ...string) {
	t.Helper()
	z.mu.Lock()
	defer z.mu.Unlock()
	cleared := map[string]bool{}
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.ToLower(rr.Header().Name)
		if !cleared[name] {
			z.records[name] = nil
			cleared[name] = true
		}
		z.records[name] = append(z.records[name], rr)
	}
}

func (z *zone) remove(name string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	delete(z.records, dns.Fqdn(name))
}

func (z *zone) setRcode(name string, rcode int) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.rcode[dns.Fqdn(name)] = rcode
}

// flag sets a name's flag in one of z's maps (truncate, only).
func (z *zone) flag(m map[string]bool, name string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	m[dns.Fqdn(name)] = true
}

func (z *zone) count(prefix string) int {
	z.mu.Lock()
	defer z.mu.Unlock()
	n := 0
	for _, q := range z.queries {
		if strings.HasPrefix(q, prefix) {
			n++
		}
	}
	return n
}

// ServeDNS answers as a recursive resolver does: the chain of CNAMEs from
// the name asked, and the records of the type asked of its end; NXDOMAIN
// with an SOA for a name it does not know.
func (z *zone) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	z.mu.Lock()
	defer z.mu.Unlock()
	q := r.Question[0]
	network := w.LocalAddr().Network()
	name := strings.ToLower(q.Name)
	z.queries = append(z.queries, fmt.Sprintf("%s %s %s", network, name, dns.TypeToString[q.Qtype]))
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	if rc, ok := z.rcode[name]; ok {
		m.Rcode = rc
		w.WriteMsg(m)
		return
	}
	if z.truncate[name] && network == "udp" {
		m.Truncated = true
		w.WriteMsg(m)
		return
	}
	soa, _ := dns.NewRR(". 300 IN SOA ns.test. admin.test. 1 3600 600 86400 60")
	for range 10 {
		rrs, ok := z.records[name]
		if !ok {
			m.Rcode = dns.RcodeNameError
			m.Ns = append(m.Ns, soa)
			break
		}
		next := ""
		for _, rr := range rrs {
			switch {
			case rr.Header().Rrtype == dns.TypeCNAME:
				m.Answer = append(m.Answer, rr)
				next = strings.ToLower(rr.(*dns.CNAME).Target)
			case rr.Header().Rrtype == q.Qtype:
				m.Answer = append(m.Answer, rr)
			}
		}
		if next == "" || z.only[name] {
			if len(m.Answer) == 0 {
				m.Ns = append(m.Ns, soa)
			}
			break
		}
		name = next
	}
	w.WriteMsg(m)
}

// serve runs a name server for z on ip, over UDP and TCP on the same
// port: port, or any free one if 0. It returns the port.
func serve(t *testing.T, ip string, port uint16, z dns.Handler) uint16 {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(int(port))))
	if err != nil {
		t.Fatal(err)
	}
	port = uint16(pc.LocalAddr().(*net.UDPAddr).Port)
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(int(port))))
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: z}, {Listener: l, Handler: z}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	return port
}

// silent makes a UDP socket on ip:port that reads nothing and answers
// nothing: a server that is down without saying so.
func silent(t *testing.T, ip string, port uint16) {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(int(port))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
}

// clock is a test's time, moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var start = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// newTest starts a name server for a new zone on 127.0.0.1 and a Resolver
// whose resolv.conf is conf, on a clock of its own.
func newTest(t *testing.T, conf string) (*Resolver, *zone, *clock) {
	t.Helper()
	z := newZone()
	port := serve(t, "127.0.0.1", 0, z)
	r, c := newResolver(t, conf, port)
	return r, z, c
}

// newResolver returns a Resolver whose resolv.conf is conf and whose
// servers listen on port, with queries that time out after 300 ms, on a
// clock that starts at start.
func newResolver(t *testing.T, conf string, port uint16) (*Resolver, *clock) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: start}
	r, err := New(Config{ResolvConf: path, Port: port, Timeout: 300 * time.Millisecond, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return r, c
}

func refresh(t *testing.T, r *Resolver, hosts ...string) []string {
	t.Helper()
	changed, err := r.Refresh(context.Background(), hosts)
	if err != nil {
		t.Fatal(err)
	}
	return changed
}

// answers renders what r gives for host: now and last good, per family.
func answers(r *Resolver, host string) string {
	var parts []string
	for _, fam := range []int{4, 6} {
		addrs, known := r.Resolve(host, fam)
		now := "unknown"
		if known {
			now = fmt.Sprint(addrs)
		}
		parts = append(parts, fmt.Sprintf("v%d now %s good %v", fam, now, r.LastGood(host, fam)))
	}
	return strings.Join(parts, "; ")
}

func TestResolveAndTTL(t *testing.T) {
	r, z, c := newTest(t, "nameserver 127.0.0.1\n")
	z.set(t, "web.test. 300 IN A 192.0.2.2", "web.test. 300 IN A 192.0.2.1", "web.test. 120 IN AAAA 2001:db8::1")
	if got, known := r.Resolve("web.test", 4); got != nil || known {
		t.Errorf("before any lookup: Resolve = %v, %v; want nothing, unknown", got, known)
	}
	if got := refresh(t, r, "web.test", "web.test"); !slices.Equal(got, []string{"web.test"}) {
		t.Errorf("Refresh changed %v; want [web.test]", got)
	}
	want := "v4 now [192.0.2.1 192.0.2.2] good [192.0.2.1 192.0.2.2]; v6 now [2001:db8::1] good [2001:db8::1]"
	if got := answers(r, "web.test"); got != want {
		t.Errorf("after Refresh: %s; want %s", got, want)
	}
	// The earliest answer, AAAA's 120 s, is due at nine tenths of it.
	if got, want := r.NextRefresh(), start.Add(108*time.Second); !got.Equal(want) {
		t.Errorf("NextRefresh = %v; want %v", got, want)
	}
	if got := r.Due(); got != nil {
		t.Errorf("Due = %v; want none yet", got)
	}
	c.advance(108 * time.Second)
	if got := r.Due(); !slices.Equal(got, []string{"web.test"}) {
		t.Errorf("Due = %v; want [web.test]", got)
	}
	// An answer is kept until a Refresh renews or drops it: every table
	// built in between is the same.
	c.advance(time.Hour)
	if got := answers(r, "web.test"); got != want {
		t.Errorf("an hour later: %s; want %s", got, want)
	}
	// The name loses its AAAA record: the expired answer goes.
	z.set(t, "web.test. 300 IN A 192.0.2.2", "web.test. 300 IN A 192.0.2.1")
	if got := refresh(t, r, "web.test"); !slices.Equal(got, []string{"web.test"}) {
		t.Errorf("Refresh changed %v; want [web.test]", got)
	}
	want = "v4 now [192.0.2.1 192.0.2.2] good [192.0.2.1 192.0.2.2]; v6 now [] good [2001:db8::1]"
	if got := answers(r, "web.test"); got != want {
		t.Errorf("after the AAAA record went: %s; want %s", got, want)
	}
	if got := refresh(t, r, "web.test"); got != nil {
		t.Errorf("Refresh of an unchanged name changed %v; want nothing", got)
	}
}

func TestTTLClamped(t *testing.T) {
	for _, tt := range []struct {
		ttl  string
		want time.Duration // when due
	}{
		{"0", 27 * time.Second},     // MinTTL 30 s
		{"1", 27 * time.Second},     // MinTTL
		{"600", 540 * time.Second},  // as given
		{"86400", 54 * time.Minute}, // MaxTTL 1 h
		{"4294967295", 54 * time.Minute},
	} {
		t.Run(tt.ttl, func(t *testing.T) {
			r, z, _ := newTest(t, "nameserver 127.0.0.1\n")
			z.set(t, "web.test. "+tt.ttl+" IN A 192.0.2.1", "web.test. "+tt.ttl+" IN AAAA 2001:db8::1")
			refresh(t, r, "web.test")
			if got := r.NextRefresh().Sub(start); got != tt.want {
				t.Errorf("TTL %s: due after %v; want %v", tt.ttl, got, tt.want)
			}
		})
	}
}

// TestReresolve: a name moves to another address, and a refresh when it
// is due follows it.
func TestReresolve(t *testing.T) {
	r, z, c := newTest(t, "nameserver 127.0.0.1\n")
	z.set(t, "web.test. 60 IN A 192.0.2.1", "web.test. 60 IN AAAA 2001:db8::1")
	refresh(t, r, "web.test")
	z.set(t, "web.test. 60 IN A 192.0.2.9", "web.test. 60 IN AAAA 2001:db8::1")
	c.advance(r.NextRefresh().Sub(c.Now()))
	if got := refresh(t, r, r.Due()...); !slices.Equal(got, []string{"web.test"}) {
		t.Errorf("Refresh changed %v; want [web.test]", got)
	}
	want := "v4 now [192.0.2.9] good [192.0.2.9]; v6 now [2001:db8::1] good [2001:db8::1]"
	if got := answers(r, "web.test"); got != want {
		t.Errorf("%s; want %s", got, want)
	}
	if got, want := r.NextRefresh(), c.Now().Add(54*time.Second); !got.Equal(want) {
		t.Errorf("NextRefresh = %v; want %v", got, want)
	}
}

// TestStopsResolving: a name that stops resolving keeps its addresses
// until they expire, then has none now, and keeps them as last good.
func TestStopsResolving(t *testing.T) {
	r, z, c := newTest(t, "nameserver 127.0.0.1\n")
	z.set(t, "web.test. 600 IN A 192.0.2.1")
	refresh(t, r, "web.test")
	if err := r.Failure("web.test", 6); !errors.Is(err, ErrNoRecords) {
		t.Errorf("Failure(IPv6) = %v; want no records", err)
	}
	z.remove("web.test")
	c.advance(540 * time.Second)
	if got := refresh(t, r, "web.test"); got != nil {
		t.Errorf("Refresh while the answer holds changed %v; want nothing", got)
	}
	if err := r.Failure("web.test", 4); !errors.Is(err, ErrNoName) {
		t.Errorf("Failure = %v; want no such name", err)
	}
	want := "v4 now [192.0.2.1] good [192.0.2.1]; v6 now [] good []"
	if got := answers(r, "web.test"); got != want {
		t.Errorf("%s; want %s", got, want)
	}
	// Tried again at half the time left (30 s), before the answer ends.
	if got, want := r.NextRefresh(), c.Now().Add(30*time.Second); !got.Equal(want) {
		t.Errorf("NextRefresh = %v; want %v", got, want)
	}
	c.advance(60 * time.Second)
	if got := refresh(t, r, "web.test"); !slices.Equal(got, []string{"web.test"}) {
		t.Errorf("Refresh after expiry changed %v; want [web.test]", got)
	}
	want = "v4 now [] good [192.0.2.1]; v6 now [] good []"
	if got := answers(r, "web.test"); got != want {
		t.Errorf("%s; want %s", got, want)
	}
	// The SOA's minimum, 60 s, says when to ask again.
	if got, want := r.NextRefresh(), c.Now().Add(60*time.Second); !got.Equal(want) {
		t.Errorf("NextRefresh = %v; want %v", got, want)
	}

	// For rules, an allow to it matches nothing, a deny its last good
	// address.
	if got, _ := eval.HostAddrs(r, "web.test", 4, ir.Accept); got != nil {
		t.Errorf("HostAddrs for an accept = %v; want none", got)
	}
	if got, _ := eval.HostAddrs(r, "web.test", 4, ir.Drop); !slices.Equal(got, []netip.Addr{netip.MustParseAddr("192.0.2.1")}) {
		t.Errorf("HostAddrs for a drop = %v; want [192.0.2.1]", got)
	}
	r.Retain([]string{"other.test"})
	if got := answers(r, "web.test"); got != "v4 now unknown good []; v6 now unknown good []" {
		t.Errorf("after Retain without it: %s", got)
	}
	if !r.NextRefresh().IsZero() {
		t.Errorf("NextRefresh with no names = %v; want zero", r.NextRefresh())
	}
}

// TestTruncated: an answer truncated over UDP is asked again over TCP.
func TestTruncated(t *testing.T) {
	r, z, _ := newTest(t, "nameserver 127.0.0.1\n")
	var rrs []string
	for i := range 100 {
		rrs = append(rrs, fmt.Sprintf("big.test. 300 IN A 198.51.100.%d", i))
	}
	z.set(t, rrs...)
	z.flag(z.truncate, "big.test")
	refresh(t, r, "big.test")
	addrs, _ := r.Resolve("big.test", 4)
	if len(addrs) != 100 {
		t.Errorf("Resolve = %d addresses; want 100", len(addrs))
	}
	if n := z.count("tcp big.test."); n != 2 {
		t.Errorf("%d TCP queries; want 2, for A and AAAA", n)
	}
}

// TestServers: a server that does not answer, or fails, is passed over
// for the next; with none that answers, the name fails, in bounded time.
func TestServers(t *testing.T) {
	z := newZone()
	port := serve(t, "127.0.0.1", 0, z)
	silent(t, "127.0.0.2", port)
	failing := newZone()
	serve(t, "127.0.0.3", port, failing)
	failing.setRcode("web.test", dns.RcodeServerFailure)
	z.set(t, "web.test. 300 IN A 192.0.2.1", "web.test. 300 IN AAAA 2001:db8::1")

	r, _ := newResolver(t, "nameserver 127.0.0.2\nnameserver 127.0.0.3\nnameserver 127.0.0.1\noptions attempts:1\n", port)
	refresh(t, r, "web.test")
	want := "v4 now [192.0.2.1] good [192.0.2.1]; v6 now [2001:db8::1] good [2001:db8::1]"
	if got := answers(r, "web.test"); got != want {
		t.Errorf("%s; want %s", got, want)
	}
	if n := failing.count("udp web.test."); n != 2 {
		t.Errorf("the failing server got %d queries; want 2", n)
	}

	down, _ := newResolver(t, "nameserver 127.0.0.2\noptions attempts:2\n", port)
	begin := time.Now()
	refresh(t, down, "web.test")
	if err := down.Failure("web.test", 4); !errors.Is(err, ErrNoAnswer) {
		t.Errorf("Failure = %v; want no answer", err)
	}
	// Two attempts of 300 ms, both families at once.
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("Refresh took %v with a silent server; want about 600 ms", d)
	}
	if got := answers(down, "web.test"); got != "v4 now [] good []; v6 now [] good []" {
		t.Errorf("%s; want no addresses", got)
	}

	allFail, _ := newResolver(t, "nameserver 127.0.0.3\n", port)
	refresh(t, allFail, "web.test")
	if err := allFail.Failure("web.test", 4); !errors.Is(err, ErrServerFailure) || !strings.Contains(err.Error(), "SERVFAIL") {
		t.Errorf("Failure = %v; want a server failure, SERVFAIL", err)
	}
}

func TestCNAME(t *testing.T) {
	r, z, _ := newTest(t, "nameserver 127.0.0.1\n")
	z.set(t, "www.test. 600 IN CNAME cdn.test.")
	z.set(t, "cdn.test. 100 IN CNAME Edge.Test.")
	z.set(t, "edge.test. 900 IN A 192.0.2.7", "edge.test. 900 IN AAAA 2001:db8::7")
	// A record for another owner in the answer is not believed.
	z.set(t, "poison.test. 600 IN CNAME edge.test.")
	z.set(t, "half.test. 600 IN CNAME edge.test.")
	z.flag(z.only, "half.test")
	z.set(t, "loop1.test. 600 IN CNAME loop2.test.")
	z.set(t, "loop2.test. 600 IN CNAME loop1.test.")
	z.set(t, "dangling.test. 600 IN CNAME gone.test.")
	refresh(t, r, "www.test", "half.test", "loop1.test", "dangling.test")
	for _, tt := range []struct{ host, want string }{
		{"www.test", "v4 now [192.0.2.7] good [192.0.2.7]; v6 now [2001:db8::7] good [2001:db8::7]"},
		{"half.test", "v4 now [192.0.2.7] good [192.0.2.7]; v6 now [2001:db8::7] good [2001:db8::7]"},
		{"loop1.test", "v4 now [] good []; v6 now [] good []"},
		{"dangling.test", "v4 now [] good []; v6 now [] good []"},
	} {
		if got := answers(r, tt.host); got != tt.want {
			t.Errorf("%s: %s; want %s", tt.host, got, tt.want)
		}
	}
	for host, want := range map[string]error{"loop1.test": ErrServerFailure, "dangling.test": ErrNoName} {
		if err := r.Failure(host, 4); !errors.Is(err, want) {
			t.Errorf("Failure(%s) = %v; want %v", host, err, want)
		}
	}
	if n := z.count("udp edge.test."); n != 2 {
		t.Errorf("%d queries for edge.test; want 2, for half.test's A and AAAA", n)
	}
	// The chain's least time to live, 100 s, holds the answer.
	r.Retain([]string{"www.test"})
	if got, want := r.NextRefresh(), start.Add(90*time.Second); !got.Equal(want) {
		t.Errorf("NextRefresh = %v; want %v", got, want)
	}
}

// TestOtherOwner: records in the answer for names not asked about are not
// taken.
func TestOtherOwner(t *testing.T) {
	port := serve(t, "127.0.0.1", 0, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		a, _ := dns.NewRR("evil.test. 300 IN A 203.0.113.66")
		m.Answer = append(m.Answer, a)
		w.WriteMsg(m)
	}))
	r, _ := newResolver(t, "nameserver 127.0.0.1\n", port)
	refresh(t, r, "web.test")
	if got := answers(r, "web.test"); got != "v4 now [] good []; v6 now [] good []" {
		t.Errorf("%s; want no addresses", got)
	}
	if err := r.Failure("web.test", 4); !errors.Is(err, ErrNoRecords) {
		t.Errorf("Failure = %v; want no records", err)
	}
}

func TestNamesNotLookedUp(t *testing.T) {
	r, z, _ := newTest(t, "nameserver 127.0.0.1\n")
	refresh(t, r, "a..b", "-", strings.Repeat("a", 64)+".test", "a b.test", "192.0.2.5", "2001:db8::5")
	if n := z.count(""); n != 0 {
		t.Errorf("%d queries; want none", n)
	}
	for _, host := range []string{"a..b", strings.Repeat("a", 64) + ".test", "a b.test"} {
		if err := r.Failure(host, 4); !errors.Is(err, ErrBadName) {
			t.Errorf("Failure(%q) = %v; want a bad name", host, err)
		}
	}
	for host, want := range map[string]string{
		"192.0.2.5":   "v4 now [192.0.2.5] good [192.0.2.5]; v6 now [] good []",
		"2001:db8::5": "v4 now [] good []; v6 now [2001:db8::5] good [2001:db8::5]",
	} {
		if got := answers(r, host); got != want {
			t.Errorf("%s: %s; want %s", host, got, want)
		}
	}
}

// TestRefreshCancelled: names not looked up when the context ends keep
// what they had; an ended lookup is not the name's failure.
func TestRefreshCancelled(t *testing.T) {
	z := newZone()
	port := serve(t, "127.0.0.1", 0, z)
	z.set(t, "web.test. 300 IN A 192.0.2.1")
	r, _ := newResolver(t, "nameserver 127.0.0.1\n", port)
	refresh(t, r, "web.test")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Refresh(ctx, []string{"web.test"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Refresh = %v; want context canceled", err)
	}
	if got := answers(r, "web.test"); got != "v4 now [192.0.2.1] good [192.0.2.1]; v6 now [] good []" {
		t.Errorf("after a cancelled Refresh: %s", got)
	}
}

func TestServersAndReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(path, []byte("nameserver 10.139.1.1\nnameserver fe80::1%eth0\nnameserver 10.139.1.2\n"), 0o644)
	r, err := New(Config{ResolvConf: path})
	if err != nil {
		t.Fatal(err)
	}
	v4, v6 := r.Servers()
	if fmt.Sprint(v4, v6) != "[10.139.1.1 10.139.1.2] [fe80::1]" {
		t.Errorf("Servers = %v %v", v4, v6)
	}
	os.WriteFile(path, []byte("nameserver 10.139.1.3\n"), 0o644)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if v4, _ := r.Servers(); fmt.Sprint(v4) != "[10.139.1.3]" {
		t.Errorf("after Reload, Servers = %v", v4)
	}
	os.Remove(path)
	if err := r.Reload(); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Reload of a missing file = %v", err)
	}
	if v4, _ := r.Servers(); fmt.Sprint(v4) != "[10.139.1.3]" {
		t.Errorf("after a failed Reload, Servers = %v; want the old ones", v4)
	}
	if _, err := New(Config{ResolvConf: path}); err == nil {
		t.Error("New with a missing resolv.conf succeeded")
	}
	if _, err := New(Config{ResolvConf: path, MinTTL: time.Hour, MaxTTL: time.Minute}); err == nil || !strings.Contains(err.Error(), "below the minimum") {
		t.Errorf("New with MaxTTL < MinTTL = %v", err)
	}
}

// TestConcurrent resolves while names are refreshed (run with -race).
func TestConcurrent(t *testing.T) {
	r, z, _ := newTest(t, "nameserver 127.0.0.1\n")
	var hosts []string
	for i := range 20 {
		h := fmt.Sprintf("h%d.test", i)
		hosts = append(hosts, h)
		z.set(t, fmt.Sprintf("%s. 300 IN A 192.0.2.%d", h, i))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 3 {
			refresh(t, r, hosts...)
		}
	}()
	for {
		select {
		case <-done:
			for i, h := range hosts {
				if got, _ := r.Resolve(h, 4); fmt.Sprint(got) != fmt.Sprintf("[192.0.2.%d]", i) {
					t.Errorf("%s: %v", h, got)
				}
			}
			return
		default:
			for _, h := range hosts {
				r.Resolve(h, 4)
				r.LastGood(h, 6)
			}
			r.NextRefresh()
		}
	}
}

// TestLowerWithResolver builds qfw's nftables table from a Resolver as
// the agent does: when a name stops resolving and its answer expires, an
// allow to it matches nothing and the client's other rules stand, while a
// deny to it keeps the name's last good address; a deny to a name that
// never resolved blocks the family.
func TestLowerWithResolver(t *testing.T) {
	r, z, c := newTest(t, "nameserver 127.0.0.1\n")
	z.set(t, "svc.test. 60 IN A 192.0.2.1")
	refresh(t, r, "svc.test", "never.test")
	z.remove("svc.test")
	c.advance(time.Hour)
	refresh(t, r, r.Due()...)

	svc := ir.Match{Dst: ir.Dst{Host: "svc.test"}}
	web := ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ir.PortRange{First: 443, Last: 443}}
	clients := []nftables.Client{
		{Name: "work", Addr4: netip.MustParseAddr("10.137.0.11"), Rules4: []ir.Rule{{Action: ir.Accept, Match: svc}, {Action: ir.Accept, Match: web}}},
		{Name: "guard", Addr4: netip.MustParseAddr("10.137.0.12"), Rules4: []ir.Rule{{Action: ir.Drop, Match: svc}, {Action: ir.Accept}}},
		{Name: "never", Addr4: netip.MustParseAddr("10.137.0.13"), Rules4: []ir.Rule{{Action: ir.Drop, Match: ir.Match{Dst: ir.Dst{Host: "never.test"}}}, {Action: ir.Accept}}},
	}
	opts := nftables.Options{Resolver: r}
	table, blocked := nftables.Lower(clients, opts)
	if got, want := fmt.Sprint(blocked), "[{never 4 never.test 0 false} {work 4 svc.test 0 true}]"; got != want {
		t.Errorf("blocked = %s; want %s", got, want)
	}
	for _, tt := range []struct {
		client int
		dst    string
		port   uint16
		want   ir.Action
	}{
		{0, "192.0.2.1", 80, ir.Drop},       // the allow matches nothing
		{0, "198.51.100.1", 443, ir.Accept}, // the other rule stands
		{1, "192.0.2.1", 443, ir.Drop},      // the deny keeps the last good address
		{1, "198.51.100.1", 443, ir.Accept},
		{2, "198.51.100.1", 443, ir.Drop}, // never resolved: blocked
	} {
		p := eval.Packet{Dst: netip.MustParseAddr(tt.dst), Proto: eval.ProtoTCP, Port: tt.port}
		if got := opts.Evaluator(clients[tt.client]).Eval(p).Action; got != tt.want {
			t.Errorf("%s to %s:%d: %v; want %v", clients[tt.client].Name, tt.dst, tt.port, got, tt.want)
		}
	}
	text := string(table.Text())
	for _, want := range []string{"set c4-guard-0-a {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = {\n\t\t\t192.0.2.1\n", "chain c4-never {\n\t\treject"} {
		if !strings.Contains(text, want) {
			t.Errorf("the table lacks %q:\n%s", want, text)
		}
	}
}

// FuzzFollow reads answers from hostile servers: whatever the message,
// following CNAMEs ends, and the addresses taken are of the asked type and
// owned by the name the chain ends at.
func FuzzFollow(f *testing.F) {
	for _, rrs := range [][]string{
		{"a.test. 60 IN A 192.0.2.1"},
		{"a.test. 60 IN CNAME b.test.", "b.test. 30 IN A 192.0.2.2", "c.test. 30 IN A 192.0.2.3"},
		{"a.test. 60 IN CNAME b.test.", "b.test. 60 IN CNAME a.test."},
		{"a.test. 60 IN AAAA 2001:db8::1"},
	} {
		m := new(dns.Msg)
		m.SetQuestion("a.test.", dns.TypeA)
		for _, s := range rrs {
			rr, _ := dns.NewRR(s)
			m.Answer = append(m.Answer, rr)
		}
		b, _ := m.Pack()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := new(dns.Msg)
		if m.Unpack(data) != nil {
			return
		}
		end, addrs, _ := follow(m, "a.test.", dns.TypeA, map[string]bool{})
		for _, a := range addrs {
			if !a.Is4() {
				t.Errorf("A lookup gave %v", a)
			}
		}
		if end == "" && addrs != nil {
			t.Errorf("a loop gave addresses %v", addrs)
		}
		for _, rr := range m.Answer {
			if a, ok := rr.(*dns.A); ok && !strings.EqualFold(rr.Header().Name, end) {
				if ip, _ := netip.AddrFromSlice(a.A.To4()); slices.Contains(addrs, ip) && !ownedBy(m, ip, end) {
					t.Errorf("took %v of %s; the chain ends at %s", ip, rr.Header().Name, end)
				}
			}
		}
	})
}

// ownedBy reports whether m's answer has an A record of ip owned by name.
func ownedBy(m *dns.Msg, ip netip.Addr, name string) bool {
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok && strings.EqualFold(rr.Header().Name, name) {
			if got, _ := netip.AddrFromSlice(a.A.To4()); got == ip {
				return true
			}
		}
	}
	return false
}

// TestIPv6Server asks a server at an IPv6 address, after an IPv4 one that
// is down.
func TestIPv6Server(t *testing.T) {
	if pc, err := net.ListenPacket("udp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		pc.Close()
	}
	z := newZone()
	port := serve(t, "::1", 0, z)
	silent(t, "127.0.0.2", port)
	z.set(t, "web.test. 300 IN A 192.0.2.1", "web.test. 300 IN AAAA 2001:db8::1")
	r, _ := newResolver(t, "nameserver 127.0.0.2\nnameserver ::1\noptions attempts:1\n", port)
	refresh(t, r, "web.test")
	want := "v4 now [192.0.2.1] good [192.0.2.1]; v6 now [2001:db8::1] good [2001:db8::1]"
	if got := answers(r, "web.test"); got != want {
		t.Errorf("%s; want %s", got, want)
	}
	if v4, v6 := r.Servers(); fmt.Sprint(v4, v6) != "[127.0.0.2] [::1]" {
		t.Errorf("Servers = %v %v", v4, v6)
	}
}
