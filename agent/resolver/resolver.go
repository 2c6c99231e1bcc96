package resolver

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"
)

// Defaults for Config.
const (
	DefaultResolvConf = "/etc/resolv.conf"
	DefaultMinTTL     = 30 * time.Second
	DefaultMaxTTL     = time.Hour
)

// parallel is how many names Refresh looks up at once.
const parallel = 8

// Config configures a Resolver.
type Config struct {
	// ResolvConf is the file that names the servers; DefaultResolvConf
	// if empty.
	ResolvConf string
	// MinTTL and MaxTTL bound how long an answer is kept: a record's
	// time to live below MinTTL would have names looked up all the time,
	// one above MaxTTL keeps an address long after it may have moved.
	// DefaultMinTTL and DefaultMaxTTL if zero.
	MinTTL, MaxTTL time.Duration
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Port is the servers' port, 53 if zero. A resolv.conf cannot say
	// it; tests run their servers on other ports.
	Port uint16
	// Timeout, if not zero, replaces resolv.conf's timeout: how long one
	// query waits for one server.
	Timeout time.Duration
}

// Resolver looks up the addresses of host names with the servers of a
// resolv.conf, and keeps every answer for its time to live. Resolve
// answers from what it keeps, so that building a table never waits on the
// network; Refresh looks names up. It is safe for concurrent use.
//
// Each name has, in each family, an answer now and a last good answer.
// The answer now is the addresses of the latest lookup that gave some,
// until they expire: a lookup that fails (no such name, no records, a
// server failure, no answer, a malformed name) before then keeps them,
// and one after leaves the name without addresses now. The last good
// answer is the same addresses, but outlives failures and expiry, so that
// a deny rule is not lifted by a lookup that fails.
type Resolver struct {
	cfg Config
	now func() time.Time

	mu    sync.Mutex
	conf  Conf
	names map[string]*[2]answer // [0] IPv4, [1] IPv6
}

// answer is what is known of one name in one family.
type answer struct {
	tried bool
	// addrs, sorted, are the name's addresses until expires.
	addrs   []netip.Addr
	expires time.Time
	// good is the last non-empty addrs.
	good []netip.Addr
	// due is when the name should be looked up again.
	due time.Time
	// err is why the latest lookup gave no addresses; nil if it gave
	// some.
	err error
}

// New reads cfg.ResolvConf and returns a Resolver that knows no names yet.
func New(cfg Config) (*Resolver, error) {
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = DefaultResolvConf
	}
	if cfg.MinTTL <= 0 {
		cfg.MinTTL = DefaultMinTTL
	}
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = DefaultMaxTTL
	}
	if cfg.MaxTTL < cfg.MinTTL {
		return nil, fmt.Errorf("resolver: the maximum time to live %s is below the minimum %s", cfg.MaxTTL, cfg.MinTTL)
	}
	if cfg.Port == 0 {
		cfg.Port = 53
	}
	r := &Resolver{cfg: cfg, now: cfg.Now, names: map[string]*[2]answer{}}
	if r.now == nil {
		r.now = time.Now
	}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the resolv.conf again, as when its servers change (the
// agent does on SIGHUP). If it cannot be read, the servers read before
// stay. What was kept of names stays too: Refresh asks the new servers.
func (r *Resolver) Reload() error {
	f, err := os.Open(r.cfg.ResolvConf)
	if err != nil {
		return fmt.Errorf("resolver: %w", err)
	}
	defer f.Close()
	// One byte more than is parsed, so that the parser sees a file too
	// long, and says so.
	data, err := io.ReadAll(io.LimitReader(f, maxConfSize+1))
	if err != nil {
		return fmt.Errorf("resolver: read %s: %w", r.cfg.ResolvConf, err)
	}
	conf := ParseResolvConf(data)
	r.mu.Lock()
	r.conf = conf
	r.mu.Unlock()
	return nil
}

// Conf returns what the resolv.conf says, as last read.
func (r *Resolver) Conf() Conf {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.conf
	c.Servers = slices.Clone(c.Servers)
	c.Ignored = slices.Clone(c.Ignored)
	return c
}

// Servers returns the name servers of the resolv.conf, IPv4 and IPv6, as
// the firewall qube's DNS servers (for the sets that specialtarget=dns
// matches): without zones, each once.
func (r *Resolver) Servers() (v4, v6 []netip.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.conf.Servers {
		a = a.WithZone("")
		switch {
		case a.Is4() && !slices.Contains(v4, a):
			v4 = append(v4, a)
		case a.Is6() && !slices.Contains(v6, a):
			v6 = append(v6, a)
		}
	}
	return v4, v6
}

func famIndex(family int) (int, bool) {
	switch family {
	case 4:
		return 0, true
	case 6:
		return 1, true
	}
	return 0, false
}

// Resolve returns the addresses host has now in family (4 or 6), as the
// latest Refresh left them, and whether it was looked up at all: known
// with no addresses means it does not resolve in that family now. It
// implements eval.Resolver. Between two Refreshes it gives the same
// answers, so that every table built in between is the same: Refresh
// drops an answer that has expired, when a lookup fails to renew it, and
// NextRefresh says when to call it so that answers are renewed before
// they expire.
func (r *Resolver) Resolve(host string, family int) ([]netip.Addr, bool) {
	i, ok := famIndex(family)
	if !ok {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.names[host]
	if e == nil || !e[i].tried {
		return nil, false
	}
	return slices.Clone(e[i].addrs), true
}

// LastGood returns the addresses host last resolved to in family, however
// long ago, or none if it never resolved to any. It implements
// eval.LastGoodResolver: a deny rule to a name that fails keeps these.
func (r *Resolver) LastGood(host string, family int) []netip.Addr {
	i, ok := famIndex(family)
	if !ok {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.names[host]; e != nil {
		return slices.Clone(e[i].good)
	}
	return nil
}

// Failure returns why the latest lookup of host in family gave no
// addresses (those of an earlier one may still hold, until they expire);
// nil if it gave some, or if host was never looked up.
func (r *Resolver) Failure(host string, family int) error {
	i, ok := famIndex(family)
	if !ok {
		return fmt.Errorf("no address family %d", family)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.names[host]; e != nil {
		return e[i].err
	}
	return nil
}

// NextRefresh returns when the earliest kept answer is due to be looked up
// again: before it expires, or, after a failure, when to try again. It is
// the zero time if no name is kept.
func (r *Resolver) NextRefresh() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var next time.Time
	for _, e := range r.names {
		for i := range e {
			if e[i].tried && (next.IsZero() || e[i].due.Before(next)) {
				next = e[i].due
			}
		}
	}
	return next
}

// Due returns the kept names that are due to be looked up again now,
// sorted.
func (r *Resolver) Due() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	var out []string
	for host, e := range r.names {
		if !e[0].due.After(now) || !e[1].due.After(now) {
			out = append(out, host)
		}
	}
	slices.Sort(out)
	return out
}

// Retain forgets every kept name but hosts: names no rule uses any more,
// whose last good answers would otherwise be kept for ever.
func (r *Resolver) Retain(hosts []string) {
	keep := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		keep[h] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for host := range r.names {
		if !keep[host] {
			delete(r.names, host)
		}
	}
}

// Refresh looks hosts up now, in both families, with the resolv.conf's
// servers, and returns those whose addresses or last good addresses
// changed in either family since the previous Refresh (an answer that
// expired and was not renewed counts as changed now), and those looked up
// for the first time, sorted: the tables built from them are to be built
// again. A name that fails to resolve is not an error
// (see Failure); the error is ctx's, if it ends first, and then the names
// not yet looked up keep what they had.
func (r *Resolver) Refresh(ctx context.Context, hosts []string) ([]string, error) {
	hosts = slices.Clone(hosts)
	slices.Sort(hosts)
	hosts = slices.Compact(hosts)
	r.mu.Lock()
	conf := r.conf
	r.mu.Unlock()
	q := querier{conf: conf, port: r.cfg.Port, timeout: conf.Timeout, minTTL: r.cfg.MinTTL, maxTTL: r.cfg.MaxTTL}
	if r.cfg.Timeout > 0 {
		q.timeout = r.cfg.Timeout
	}
	changed := make([]bool, len(hosts))
	next := make(chan int)
	var workers sync.WaitGroup
	for range min(parallel, len(hosts)) {
		workers.Go(func() {
			for k := range next {
				var res [2]result
				var fams sync.WaitGroup
				for i, family := range []int{4, 6} {
					fams.Go(func() { res[i] = q.lookup(ctx, hosts[k], family) })
				}
				fams.Wait()
				if ctx.Err() != nil {
					// Our own deadline is not the name's failure.
					continue
				}
				changed[k] = r.store(hosts[k], res)
			}
		})
	}
feed:
	for k := range hosts {
		select {
		case next <- k:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	workers.Wait()
	var out []string
	for k, host := range hosts {
		if changed[k] {
			out = append(out, host)
		}
	}
	return out, ctx.Err()
}

// store keeps the results of looking host up, and reports whether what
// Resolve or LastGood give changed.
func (r *Resolver) store(host string, res [2]result) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	e := r.names[host]
	if e == nil {
		e = &[2]answer{}
		r.names[host] = e
	}
	changed := false
	for i := range e {
		a := &e[i]
		// What the last Refresh left, expired or not: the tables in
		// force were built from it, and must be built again if it
		// changes.
		before, beforeKnown, beforeGood := a.addrs, a.tried, a.good
		got := res[i]
		switch {
		case got.err == nil:
			a.addrs, a.good, a.err = got.addrs, got.addrs, nil
			a.expires = now.Add(got.ttl)
			// Ask again when nine tenths of the time to live have
			// passed: the answer is then still good while it is
			// looked up.
			a.due = now.Add(got.ttl - got.ttl/10)
		case now.Before(a.expires):
			// The answer kept is good until it expires: try again
			// before then, or after the negative time to live if
			// that comes first.
			a.err = got.err
			a.due = now.Add(min(got.ttl, max(a.expires.Sub(now)/2, time.Second)))
		default:
			a.addrs, a.err = nil, got.err
			a.expires = now
			a.due = now.Add(got.ttl)
		}
		a.tried = true
		if !beforeKnown || !slices.Equal(before, a.addrs) || !slices.Equal(beforeGood, a.good) {
			changed = true
		}
	}
	return changed
}
