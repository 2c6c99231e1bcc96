package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/qfw-dev/qfw/backends/qubesdb"
	"github.com/qfw-dev/qfw/compiler/eval"
)

// DB is what the agent needs of QubesDB; [qubesdb.Client] has it.
type DB interface {
	Read(path string) ([]byte, error)
	MultiRead(prefix string) ([]qubesdb.Entry, error)
	List(prefix string) ([]string, error)
	Write(path string, value []byte) error
	Rm(path string) error
	Watch(path string) error
	Unwatch(path string) error
	Events() <-chan qubesdb.Event
}

// Resolver resolves the host names of the clients' lists with the
// firewall qube's resolvers, and knows those resolvers' addresses.
type Resolver interface {
	// Resolve answers from what Refresh looked up.
	eval.Resolver
	// Refresh looks hosts up now, and returns those whose addresses
	// changed.
	Refresh(ctx context.Context, hosts []string) (changed []string, err error)
	// NextRefresh is when the earliest answer is due to be looked up
	// again; zero for none.
	NextRefresh() time.Time
	// Due returns the names due to be looked up again now.
	Due() []string
	// Retain forgets every name but hosts.
	Retain(hosts []string)
	// Servers returns the firewall qube's DNS servers, which
	// specialtarget=dns matches.
	Servers() (v4, v6 []netip.Addr)
	// Reload reads the resolver configuration again.
	Reload() error
}

// Notifier tells the service manager how the agent is doing.
type Notifier interface {
	Ready() error
	Reloading() error
	Stopping() error
	Status(s string) error
}

// Priority ranks a log line as syslog does.
type Priority int

const (
	Error   Priority = 3
	Warning Priority = 4
	Info    Priority = 6
)

// Config is what the agent works with.
type Config struct {
	DB       DB
	Kernel   Kernel
	Resolver Resolver
	// Notifier is told when the agent is ready, reloading and stopping;
	// nil for none.
	Notifier Notifier
	// Hooks runs the user's scripts at start, logging with log; nil for
	// none.
	Hooks func(ctx context.Context, log func(string)) error
	// StatusFile is where the agent keeps its status; empty for none.
	StatusFile string
	// Log writes one line; nil discards it.
	Log func(p Priority, line string)
	// Now returns the time; nil for time.Now.
	Now func() time.Time
	// RetryAfter is how long the agent waits before applying the whole
	// table again after the kernel refused a change; 0 for 5 seconds.
	RetryAfter time.Duration
}

// The QubesDB keys the agent reads: the clients' lists, under their
// addresses in firewallDir, and the addresses of the connected clients.
const (
	firewallDir = "/qubes-firewall/"
	connected4  = "/connected-ips"
	connected6  = "/connected-ips6"
)

// Run runs the agent until ctx ends: it handles every client present,
// tells the notifier it is ready, and then handles the commits of lists,
// changes of the connected clients, reload requests from reload, and the
// re-resolving of host names as they come. When ctx ends it tells the
// notifier it stops and returns nil, leaving the table in force.
//
// It returns an error if QubesDB cannot be watched, or its connection
// ends for good.
func Run(ctx context.Context, cfg Config, reload <-chan struct{}) error {
	a := newAgent(cfg)
	for _, p := range []string{connected4, connected6} {
		if err := cfg.DB.Watch(p); err != nil {
			return fmt.Errorf("watch QubesDB %s: %w", p, err)
		}
	}
	a.watching = true
	a.runHooks(ctx)
	a.handleAll(ctx, "start")
	if ctx.Err() != nil {
		return a.stop()
	}
	a.state = StateReady
	a.writeStatus()
	a.notify("ready", Notifier.Ready)

	events := cfg.DB.Events()
	refresh := time.NewTimer(time.Hour)
	retry := time.NewTimer(time.Hour)
	defer refresh.Stop()
	defer retry.Stop()
	for {
		a.arm(refresh, retry)
		select {
		case <-ctx.Done():
			return a.stop()
		case ev, ok := <-events:
			if !ok {
				return errors.New("the connection to QubesDB ended")
			}
			a.note(ev)
			// Take in whatever else has come: one handling for all.
			for more := true; more; {
				select {
				case ev, ok := <-events:
					if !ok {
						return errors.New("the connection to QubesDB ended")
					}
					a.note(ev)
				default:
					more = false
				}
			}
		case <-reload:
			a.reload = true
		case <-refresh.C:
			a.refreshDue = true
		case <-retry.C:
			a.retryDue = true
		}
		a.process(ctx)
	}
}

// Once handles every client that QubesDB holds, once, and returns an
// error if the table could not be applied.
func Once(ctx context.Context, cfg Config) error {
	a := newAgent(cfg)
	a.handleAll(ctx, "once")
	// Nothing keeps the lists up to date from now on.
	a.state = StateStopped
	a.writeStatus()
	if a.failed != nil {
		return a.failed
	}
	return ctx.Err()
}

// arm sets the timers for the next re-resolving of names and the next
// retry, or far away when there is none.
func (a *agent) arm(refresh, retry *time.Timer) {
	far := time.Hour
	d := far
	if next := a.cfg.Resolver.NextRefresh(); !next.IsZero() {
		d = max(next.Sub(a.now()), 0)
	}
	refresh.Reset(min(d, far))
	if a.failed != nil || a.watchFailed {
		// From the failure, not from now: events that come in the
		// meantime must not put the retry off.
		retry.Reset(max(a.retryAt.Sub(a.now()), 0))
	} else {
		retry.Reset(far)
	}
}

func (a *agent) retryAfter() time.Duration {
	if a.cfg.RetryAfter > 0 {
		return a.cfg.RetryAfter
	}
	return 5 * time.Second
}

// process does the work that events, signals and timers asked for: all
// of it at once for a reload or a lost connection, else the changes of
// connected clients, then the commits, then the names and the retry.
func (a *agent) process(ctx context.Context) {
	switch {
	case a.reload:
		a.notify("reloading", Notifier.Reloading)
		a.state = StateReloading
		a.writeStatus()
		if err := a.cfg.Resolver.Reload(); err != nil {
			a.logf(Error, "reload: the resolver configuration did not read, the previous one stays: %v", err)
		}
		a.handleAll(ctx, "reload")
		a.state = StateReady
		a.writeStatus()
		a.notify("ready", Notifier.Ready)
	case a.rescan:
		a.handleAll(ctx, "QubesDB reconnected")
	default:
		if a.connectedChanged {
			a.handleConnected(ctx)
		}
		if len(a.commits) > 0 {
			a.handleCommits(ctx)
		}
		if a.retryDue && (a.failed != nil || a.watchFailed) {
			// Whatever failed, reading or watching QubesDB or
			// applying, all again.
			a.handleAll(ctx, "retry")
		}
		if a.refreshDue {
			a.refreshNames(ctx)
		}
	}
	a.retryDue, a.refreshDue = false, false
}

// stop ends Run: the table stays in force as it is.
func (a *agent) stop() error {
	a.state = StateStopped
	a.writeStatus()
	a.notify("stopping", Notifier.Stopping)
	a.logf(Info, "stopping; the table stays in force with the lists last applied")
	return nil
}

func (a *agent) runHooks(ctx context.Context) {
	if a.cfg.Hooks == nil {
		return
	}
	if err := a.cfg.Hooks(ctx, func(s string) { a.logf(Warning, "%s", s) }); err != nil {
		a.logf(Error, "user hooks: %v", err)
	}
}

// notify tells the notifier, if any, with send.
func (a *agent) notify(what string, send func(Notifier) error) {
	if a.cfg.Notifier == nil {
		return
	}
	if err := send(a.cfg.Notifier); err != nil {
		a.logf(Warning, "notify the service manager that the agent is %s: %v", what, err)
	}
}

func (a *agent) logf(p Priority, format string, args ...any) {
	if a.cfg.Log != nil {
		a.cfg.Log(p, fmt.Sprintf(format, args...))
	}
}

func (a *agent) now() time.Time {
	if a.cfg.Now != nil {
		return a.cfg.Now()
	}
	return time.Now()
}

// note takes in one QubesDB event.
func (a *agent) note(ev qubesdb.Event) {
	switch {
	case ev.Reconnected:
		// Events may have been lost: read everything again.
		a.rescan = true
	case ev.Path == connected4 || ev.Path == connected6:
		a.connectedChanged = true
	default:
		name, ok := trimDir(ev.Path)
		if !ok {
			return // a key of a list being written, or its removal
		}
		addr, err := parseClientAddr(name)
		if err != nil {
			a.logf(Warning, "commit %s ignored: %v", ev.Path, err)
			return
		}
		a.commits[addr]++
	}
}

// trimDir returns the client address of a commit path,
// /qubes-firewall/<ip>, and whether path is one.
func trimDir(path string) (string, bool) {
	name, ok := strings.CutPrefix(path, firewallDir)
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", false
	}
	return name, true
}

// parseClientAddr parses the address of a client as dom0 names its keys:
// Python's str() of the address, which is netip's form.
func parseClientAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.String() != s || a.Is4In6() {
		return netip.Addr{}, fmt.Errorf("%q is not a client address as dom0 writes them", s)
	}
	return a, nil
}
