package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qfw-dev/qfw/backends/nftables"
	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/backends/qubesdb"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/par"
	"github.com/qfw-dev/qfw/internal/words"
)

// agent is the state of a running agent.
type agent struct {
	cfg Config
	// clients are the clients whose lists are in the table, by address.
	clients map[netip.Addr]*client
	// connected holds the addresses of /connected-ips and
	// /connected-ips6, the clients running now.
	connected map[netip.Addr]bool
	// left holds the addresses that left connected: their lists stay in
	// QubesDB, but not in the table, until they come back.
	left map[netip.Addr]bool
	opts nftables.Options
	// failed is the error of the last apply, if it failed: the kernel
	// may not hold what the agent built, and the whole table is applied
	// again at retryAt.
	failed  error
	retryAt time.Time
	state   State

	// watching says whether the agent follows the commits (Run) or
	// handles what QubesDB holds once (Once).
	watching bool
	// watched holds the addresses whose commit key the agent watches:
	// each connected address, client and client that left. A watch on
	// the key alone, not on firewallDir, spares the agent an event for
	// each key of each list dom0 writes, thousands for a long list,
	// ahead of the commit's.
	watched map[netip.Addr]bool
	// watchFailed says that a watch could not be registered: everything
	// is read and watched again at retryAt.
	watchFailed bool
	// built holds, for the clients whose last change was an update of
	// their part alone, the table of that part as put in force: a commit
	// that changes only its sets' elements (a rule of a long list moved
	// between ranges its steps hold) sends those elements and leaves the
	// chains' rules as they are.
	built map[netip.Addr]*nftables.Table

	// Work that events, signals and timers ask for.
	commits          map[netip.Addr]int
	connectedChanged bool
	rescan, reload   bool
	refreshDue       bool
	retryDue         bool
}

// client is one client address and its list.
type client struct {
	addr netip.Addr
	// rules are the rules in force: the list as read, or drop-all if it
	// did not parse.
	rules []ir.Rule
	// written is the number of rules dom0 wrote, without the policy.
	written int
	// refused says why the list is not in force, if it is not.
	refused string
	// blocked are the host names that block the client's traffic: a
	// deny to a name with no address, ever, rejects everything.
	blocked []string
	// skipped are the host names whose allow rules match nothing, as they
	// have no address.
	skipped []string
	// hosts are the host names of the rules, each once.
	hosts []string
	// applied is when the rules were put in force; zero before.
	applied time.Time
	handled int
}

func newAgent(cfg Config) *agent {
	a := &agent{
		cfg:       cfg,
		clients:   map[netip.Addr]*client{},
		connected: map[netip.Addr]bool{},
		left:      map[netip.Addr]bool{},
		commits:   map[netip.Addr]int{},
		watched:   map[netip.Addr]bool{},
		built:     map[netip.Addr]*nftables.Table{},
		state:     StateStarting,
	}
	a.readServers()
	return a
}

// family returns 4 or 6, the family of the client address addr.
func family(addr netip.Addr) int {
	if addr.Is4() {
		return 4
	}
	return 6
}

// clientName names the nftables client of address addr: the address with
// its dots and colons as dashes, so that the names of its chains and sets
// are valid and unique (one address gives one name, and its family is in
// the chain's name).
func clientName(addr netip.Addr) string {
	return strings.NewReplacer(".", "-", ":", "-").Replace(addr.String())
}

func (a *agent) readServers() {
	a.opts.DNS4, a.opts.DNS6 = a.cfg.Resolver.Servers()
	a.opts.Resolver = a.cfg.Resolver
}

// handleAll reads every client's list and the connected clients, and
// applies the whole table: at start, on a reload, and when QubesDB lost
// events.
func (a *agent) handleAll(ctx context.Context, why string) {
	a.rescan, a.reload, a.connectedChanged = false, false, false
	// The commits waiting are handled with the rest, and counted.
	commits := a.commits
	a.commits = map[netip.Addr]int{}
	a.readServers()
	a.readConnected()
	a.watchFailed = false
	a.watch(a.known())
	lists, err := a.readLists()
	if err == nil {
		// A list read before its watch was registered may have missed
		// its commit: read again after it.
		for _, addr := range a.watch(slices.Collect(maps.Keys(lists))) {
			lists[addr], err = a.readList(addr)
			if err != nil {
				break
			}
		}
	}
	if err != nil {
		// Nothing is changed: what is in force stays.
		a.failed, a.retryAt = err, a.now().Add(a.retryAfter())
		a.logf(Error, "%s: %v; the table in force stays, retrying in %s", why, err, a.retryAfter())
		a.writeStatus()
		return
	}
	var addrs []netip.Addr
	for _, addr := range slices.SortedFunc(maps.Keys(lists), netip.Addr.Compare) {
		if !a.left[addr] {
			addrs = append(addrs, addr)
		}
	}
	// Parsing is most of the work with long lists: on every processor.
	parsed := make([]*client, len(addrs))
	par.Each(len(addrs), func(i int) { parsed[i] = parse(addrs[i], lists[addrs[i]], nil) })
	old := a.clients
	a.clients = map[netip.Addr]*client{}
	for _, c := range parsed {
		a.install(c, old[c.addr])
	}
	var gone []netip.Addr
	for addr, c := range old {
		if a.clients[addr] == nil {
			gone = append(gone, addr)
			a.clients[addr] = c
			a.remove(addr, "its list is no longer in QubesDB")
		}
	}
	a.refresh(ctx, a.allHosts())
	if ctx.Err() != nil {
		return
	}
	if a.applyAll(why) {
		a.purge(append(slices.Collect(maps.Keys(a.clients)), gone...))
	}
	// Handled, if not as asked: the counter says the agent acted.
	for _, addr := range a.sorted() {
		a.writeBack(a.clients[addr], max(commits[addr], 1))
	}
	a.unwatch()
	a.writeStatus()
}

// handleCommits reads the lists of the clients that dom0 committed, and
// replaces their part of the table.
func (a *agent) handleCommits(ctx context.Context) {
	commits := a.commits
	a.commits = map[netip.Addr]int{}
	addrs := slices.SortedFunc(maps.Keys(commits), netip.Addr.Compare)
	var hosts []string
	for _, addr := range addrs {
		// A commit brings back a client that left.
		delete(a.left, addr)
		// The removal of the commit key with the list is a client gone.
		if !a.committed(addr) && !a.hasList(addr) {
			a.remove(addr, "its list is no longer in QubesDB")
			continue
		}
		c := a.load(addr, a.clients[addr])
		hosts = append(hosts, c.hosts...)
	}
	touched := a.withNames(addrs, a.refresh(ctx, hosts))
	if ctx.Err() != nil {
		return
	}
	if a.applyClients(touched) {
		a.purge(touched)
	}
	for _, addr := range addrs {
		if c := a.clients[addr]; c != nil {
			a.writeBack(c, commits[addr])
		}
	}
	a.unwatch()
	a.writeStatus()
}

// remove takes addr out of the agent's clients, and its names out of
// QubesDB; its part of the table goes with the next apply of it.
func (a *agent) remove(addr netip.Addr, why string) {
	if a.clients[addr] == nil {
		return
	}
	delete(a.clients, addr)
	a.logf(Info, "%s: removed: %s", addr, why)
	dir := "/dns/" + addr.String() + "/"
	if err := a.cfg.DB.Rm(dir); err != nil {
		a.logf(Error, "%s: remove %s: %v", addr, dir, err)
	}
}

// committed reports whether QubesDB holds the commit key of addr.
func (a *agent) committed(addr netip.Addr) bool {
	_, err := a.cfg.DB.Read(ir.QubesDBDir(addr))
	if err != nil && !errors.Is(err, qubesdb.ErrNotFound) {
		a.logf(Error, "read %s: %v", ir.QubesDBDir(addr), err)
	}
	return err == nil
}

// handleConnected takes in a change of the connected clients: the
// clients that left lose their part of the table, those that came back
// get theirs again from QubesDB, and the anti-spoofing follows.
func (a *agent) handleConnected(ctx context.Context) {
	a.connectedChanged = false
	before := maps.Clone(a.connected)
	a.readConnected()
	var changed []netip.Addr
	for addr := range before {
		if a.connected[addr] {
			continue
		}
		a.left[addr] = true
		if a.clients[addr] != nil {
			a.remove(addr, "it left the connected clients")
			changed = append(changed, addr)
		}
	}
	// Watched before its list is read: a commit that comes after the
	// read is seen. The commits of an address not watched until now
	// went unseen: its list read now is their handling.
	unseen := map[netip.Addr]bool{}
	for _, addr := range a.watch(a.known()) {
		unseen[addr] = true
	}
	var hosts []string
	var loaded []*client
	for addr := range a.connected {
		if before[addr] {
			continue
		}
		delete(a.left, addr)
		if a.clients[addr] != nil || a.commits[addr] > 0 || !a.hasList(addr) {
			continue
		}
		c := a.load(addr, nil)
		hosts = append(hosts, c.hosts...)
		changed = append(changed, addr)
		if unseen[addr] {
			loaded = append(loaded, c)
		}
	}
	a.refresh(ctx, hosts)
	if ctx.Err() != nil {
		return
	}
	// The connected addresses are in the base chains: the whole table.
	if a.applyAll("connected clients changed") {
		a.purge(changed)
	}
	slices.SortFunc(loaded, func(x, y *client) int { return x.addr.Compare(y.addr) })
	for _, c := range loaded {
		a.writeBack(c, 1)
	}
	a.unwatch()
	a.writeStatus()
}

// refreshNames looks up again the names whose answers are due, and
// updates the clients whose names changed: in their sets' elements only,
// if that is all that changed, or else their whole parts.
func (a *agent) refreshNames(ctx context.Context) {
	due := a.cfg.Resolver.Due()
	if len(due) == 0 {
		return
	}
	// What the kernel holds, if the last applies took: built before the
	// answers change.
	var old *nftables.Table
	if a.failed == nil {
		old = a.build(nil)
	}
	touched := a.withNames(nil, a.refresh(ctx, due))
	if len(touched) == 0 || ctx.Err() != nil {
		return
	}
	if (old != nil && a.updateElements(old, touched)) || a.applyClients(touched) {
		a.purge(touched)
	}
	for _, addr := range touched {
		if c := a.clients[addr]; c != nil {
			a.writeDNS(c)
		}
	}
	a.writeStatus()
}

// updateElements changes the table from old to the one built now, if
// they differ in set elements only, and reports whether it did; touched
// are the clients whose names changed.
func (a *agent) updateElements(old *nftables.Table, touched []netip.Addr) bool {
	clear(a.built)
	change, err := a.cfg.Kernel.UpdateElements(old, a.build(nil))
	switch {
	case errors.Is(err, nftables.ErrNotElementOnly):
		return false
	case err != nil:
		a.fail("", err)
		return false
	}
	now := a.now()
	for _, addr := range touched {
		if c := a.clients[addr]; c != nil {
			a.applied(c, now)
			a.logf(Info, "%s: new addresses of its host names applied: %s", addr, change)
		}
	}
	return true
}

// refresh looks hosts up and returns those whose addresses changed. The
// resolver forgets the names no client's list holds any more.
func (a *agent) refresh(ctx context.Context, hosts []string) []string {
	a.cfg.Resolver.Retain(a.allHosts())
	if len(hosts) == 0 {
		return nil
	}
	slices.Sort(hosts)
	hosts = slices.Compact(hosts)
	changed, err := a.cfg.Resolver.Refresh(ctx, hosts)
	if err != nil && ctx.Err() == nil {
		a.logf(Warning, "resolve host names: %v", err)
	}
	return changed
}

// withNames returns addrs and the clients whose lists name one of hosts,
// sorted.
func (a *agent) withNames(addrs []netip.Addr, hosts []string) []netip.Addr {
	out := slices.Clone(addrs)
	for addr, c := range a.clients {
		for _, h := range c.hosts {
			if slices.Contains(hosts, h) {
				out = append(out, addr)
				break
			}
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

func (a *agent) allHosts() []string {
	var hosts []string
	for _, c := range a.clients {
		hosts = append(hosts, c.hosts...)
	}
	return hosts
}

// sorted returns the addresses of the clients in order.
func (a *agent) sorted() []netip.Addr {
	return slices.SortedFunc(maps.Keys(a.clients), netip.Addr.Compare)
}

// readConnected reads /connected-ips and /connected-ips6. A key that is
// missing holds no address; an entry that is not an address of the key's
// family is left out, and reported. A key that cannot be read keeps the
// addresses it had: that no client left is the safe guess, as a client
// that did is not there to send.
func (a *agent) readConnected() {
	before := a.connected
	a.connected = map[netip.Addr]bool{}
	for _, p := range []struct {
		path   string
		family int
	}{{connected4, 4}, {connected6, 6}} {
		v, err := a.cfg.DB.Read(p.path)
		if errors.Is(err, qubesdb.ErrNotFound) {
			continue
		}
		if err != nil {
			a.logf(Error, "read %s: %v; its addresses stay as they were", p.path, err)
			for addr := range before {
				if family(addr) == p.family {
					a.connected[addr] = true
				}
			}
			continue
		}
		for _, s := range strings.Fields(string(v)) {
			addr, err := parseClientAddr(s)
			if err == nil && family(addr) != p.family {
				err = fmt.Errorf("%s is not an IPv%d address", s, p.family)
			}
			if err != nil {
				a.logf(Warning, "%s: %v; left out", p.path, err)
				continue
			}
			a.connected[addr] = true
		}
	}
	// The anti-spoofing of the table's base chains.
	a.opts.Connected4, a.opts.Connected6 = a.connectedList(4), a.connectedList(6)
}

// connectedList returns the connected addresses of family, sorted.
func (a *agent) connectedList(fam int) []netip.Addr {
	var out []netip.Addr
	for addr := range a.connected {
		if family(addr) == fam {
			out = append(out, addr)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// readLists reads every client's list, in one request: what QubesDB
// holds at one moment. A client is an address with a list or a commit
// key under /qubes-firewall/; keys that name no address are reported and
// left out, as no client's traffic comes from them.
func (a *agent) readLists() (map[netip.Addr][]qubes.Entry, error) {
	entries, err := a.cfg.DB.MultiRead(firewallDir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", firewallDir, err)
	}
	lists := map[netip.Addr][]qubes.Entry{}
	bad := map[string]bool{}
	for _, e := range entries {
		name, _, inList := strings.Cut(strings.TrimPrefix(e.Path, firewallDir), "/")
		addr, err := parseClientAddr(name)
		if err != nil {
			if !bad[name] {
				bad[name] = true
				a.logf(Warning, "%s%s ignored: %v", firewallDir, name, err)
			}
			continue
		}
		l := lists[addr]
		if inList {
			l = append(l, qubes.Entry{Op: qubes.Write, Path: e.Path, Value: string(e.Value)})
		}
		lists[addr] = l
	}
	return lists, nil
}

// hasList reports whether QubesDB holds anything for addr under
// /qubes-firewall/.
func (a *agent) hasList(addr netip.Addr) bool {
	dir := ir.QubesDBDir(addr)
	paths, err := a.cfg.DB.List(dir)
	if err != nil {
		a.logf(Error, "list %s: %v", dir, err)
		return false
	}
	for _, p := range paths {
		if p == dir || strings.HasPrefix(p, dir+"/") {
			return true
		}
	}
	return false
}

// load reads the list of addr from QubesDB into the client, old being
// what it was (nil for a new client).
func (a *agent) load(addr netip.Addr, old *client) *client {
	list, err := a.readList(addr)
	c := parse(addr, list, err)
	a.install(c, old)
	return c
}

// readList reads the list of addr: the keys under /qubes-firewall/<addr>/.
func (a *agent) readList(addr netip.Addr) ([]qubes.Entry, error) {
	dir := ir.QubesDBDir(addr) + "/"
	entries, err := a.cfg.DB.MultiRead(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	list := make([]qubes.Entry, len(entries))
	for i, e := range entries {
		list[i] = qubes.Entry{Op: qubes.Write, Path: e.Path, Value: string(e.Value)}
	}
	return list, nil
}

// known returns the addresses whose commits the agent follows: the
// connected ones, the clients, and the clients that left, whose commit
// brings them back.
func (a *agent) known() []netip.Addr {
	var out []netip.Addr
	for _, m := range []map[netip.Addr]bool{a.connected, a.left} {
		for addr := range m {
			out = append(out, addr)
		}
	}
	for addr := range a.clients {
		out = append(out, addr)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// watch registers the watch of the commit key of each address of addrs
// that has none, and returns those it registered: a list read before its
// watch may have missed its commit, and must be read again. A watch that
// fails has everything read and watched again after RetryAfter.
func (a *agent) watch(addrs []netip.Addr) []netip.Addr {
	if !a.watching {
		return nil
	}
	var added []netip.Addr
	for _, addr := range addrs {
		if a.watched[addr] {
			continue
		}
		path := ir.QubesDBDir(addr)
		if err := a.cfg.DB.Watch(path); err != nil {
			a.logf(Error, "%s: watch %s: %v; reading everything again in %s", addr, path, err, a.retryAfter())
			if !a.watchFailed {
				a.watchFailed, a.retryAt = true, a.now().Add(a.retryAfter())
			}
			continue
		}
		a.watched[addr] = true
		added = append(added, addr)
	}
	return added
}

// unwatch removes the watches of the addresses that are no longer
// known. One that fails stays counted as watched: a watch registered
// twice would count each commit twice.
func (a *agent) unwatch() {
	known := a.known()
	for addr := range a.watched {
		if _, ok := slices.BinarySearchFunc(known, addr, netip.Addr.Compare); ok || a.commits[addr] > 0 {
			continue
		}
		path := ir.QubesDBDir(addr)
		if err := a.cfg.DB.Unwatch(path); err != nil && !errors.Is(err, qubesdb.ErrNotFound) {
			a.logf(Warning, "%s: unwatch %s: %v", addr, path, err)
			continue
		}
		delete(a.watched, addr)
	}
}

// parse returns the client of addr with its list, the keys under
// /qubes-firewall/<addr>/, or readErr if they could not be read. A list
// that does not read or parse makes the client reject all its traffic.
func parse(addr netip.Addr, list []qubes.Entry, readErr error) *client {
	c := &client{addr: addr}
	err := readErr
	if err == nil {
		for _, e := range list {
			if !strings.HasSuffix(e.Path, "/policy") {
				c.written++
			}
		}
		c.rules, err = parseList(addr, list)
	}
	if err != nil {
		c.rules = []ir.Rule{{Action: ir.Drop}}
		c.refused = err.Error()
		return c
	}
	for _, r := range c.rules {
		if r.Dst.Host != "" && !slices.Contains(c.hosts, r.Dst.Host) {
			c.hosts = append(c.hosts, r.Dst.Host)
		}
	}
	return c
}

// install makes c a client, in the place of old (nil for none), and
// reports a list refused.
func (a *agent) install(c, old *client) {
	if old != nil {
		c.applied, c.handled = old.applied, old.handled
	}
	a.clients[c.addr] = c
	if c.refused != "" {
		a.logf(Error, "%s: list refused, rejecting all its IPv%d traffic: %s", c.addr, family(c.addr), c.refused)
	}
}

// nftClient returns c as a client of the nftables backend.
func nftClient(addr netip.Addr, rules []ir.Rule) nftables.Client {
	nc := nftables.Client{Name: clientName(addr)}
	if addr.Is4() {
		nc.Addr4, nc.Rules4 = addr, rules
	} else {
		nc.Addr6, nc.Rules6 = addr, rules
	}
	return nc
}

// build lowers the lists of the clients of addrs (every client if nil;
// an address that is not a client is left out) into a table, and notes
// in each client the host names that block it. A table of some clients
// is enough to update them: UpdateClient takes only their parts of it.
func (a *agent) build(addrs []netip.Addr) *nftables.Table {
	if addrs == nil {
		addrs = a.sorted()
	}
	clients := make([]nftables.Client, 0, len(addrs))
	byName := map[string]*client{}
	for _, addr := range addrs {
		c := a.clients[addr]
		if c == nil {
			continue
		}
		clients = append(clients, nftClient(addr, c.rules))
		byName[clientName(addr)] = c
		c.blocked, c.skipped = nil, nil
	}
	t, blocked := nftables.Lower(clients, a.opts)
	for _, b := range blocked {
		c := byName[b.Client]
		switch {
		case c == nil:
		case b.Skipped:
			c.skipped = append(c.skipped, b.Host)
		default:
			c.blocked = append(c.blocked, b.Host)
		}
	}
	return t
}

// applyAll applies the whole table, and reports whether it is in force.
func (a *agent) applyAll(why string) bool {
	clear(a.built)
	t := a.build(nil)
	change, err := a.cfg.Kernel.Apply(t)
	if err != nil {
		a.fail("", err)
		return false
	}
	a.failed = nil
	now := a.now()
	for _, addr := range a.sorted() {
		a.applied(a.clients[addr], now)
	}
	a.logf(Info, "%s: table applied for %s: %s", why, words.Count(len(a.clients), "client"), brief(change))
	return true
}

// applyClients puts the lists of the clients of addrs in force, and
// reports whether they are: one client's part of the table in one
// transaction, or for several clients (or after a failure) the whole
// table in one. A client no longer in the agent's table loses its part.
func (a *agent) applyClients(addrs []netip.Addr) bool {
	if len(addrs) == 0 {
		return true
	}
	if a.failed != nil || len(addrs) > 1 {
		// Each client's update reads the whole table back: for two or
		// more, one apply of the whole table costs less, and changes
		// them all at once.
		why := "after a failed apply"
		if a.failed == nil {
			why = words.Count(len(addrs), "client") + " changed"
		}
		if !a.applyAll(why) {
			return false
		}
		for _, addr := range addrs {
			if c := a.clients[addr]; c != nil {
				a.logf(Info, "%s: list of %s applied", addr, words.Count(c.written, "rule"))
			} else {
				a.logf(Info, "%s: chains removed", addr)
			}
		}
		return true
	}
	addr := addrs[0]
	t := a.build(addrs)
	old := a.built[addr]
	delete(a.built, addr)
	var change nftables.Change
	err := nftables.ErrNotElementOnly
	if old != nil && a.clients[addr] != nil {
		change, err = a.cfg.Kernel.UpdateClientElements(old, t, clientName(addr))
	}
	if errors.Is(err, nftables.ErrNotElementOnly) {
		change, err = a.cfg.Kernel.UpdateClient(t, clientName(addr))
	}
	if err != nil {
		a.fail(addr.String(), err)
		return false
	}
	if c := a.clients[addr]; c != nil {
		a.built[addr] = t
		a.applied(c, a.now())
		a.logf(Info, "%s: list of %s applied: %s", addr, words.Count(c.written, "rule"), change)
	} else {
		a.logf(Info, "%s: chains removed: %s", addr, change)
	}
	return true
}

// applied notes that c's rules are in force since now, and logs the
// names that keep them from being in force as written.
func (a *agent) applied(c *client, now time.Time) {
	c.applied = now
	fam := family(c.addr)
	for _, h := range c.blocked {
		a.logf(Error, "%s: %s, which a rule denies, has no IPv%d address: rejecting all its IPv%d traffic", c.addr, h, fam, fam)
	}
	for _, h := range c.skipped {
		a.logf(Warning, "%s: %s has no IPv%d address: its allow rules match nothing", c.addr, h, fam)
	}
}

// fail notes that an apply failed, for client (empty for the whole
// table): the whole table is applied again after RetryAfter.
func (a *agent) fail(client string, err error) {
	a.failed, a.retryAt = err, a.now().Add(a.retryAfter())
	what := "the table"
	if client != "" {
		what = client
	}
	if errors.Is(err, nftables.ErrLockedDown) {
		a.logf(Error, "%s: apply failed, all clients' traffic is blocked; retrying in %s: %v", what, a.retryAfter(), err)
		return
	}
	a.logf(Error, "%s: apply failed, the previous rules stay in force; retrying in %s: %v", what, a.retryAfter(), err)
}

// purge ends the connections of the clients of addrs that their rules no
// longer allow; a client no longer in the table keeps none.
func (a *agent) purge(addrs []netip.Addr) {
	if len(addrs) == 0 {
		return
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	clients := make([]nftables.Client, 0, len(addrs))
	for _, addr := range addrs {
		rules := []ir.Rule{{Action: ir.Drop}}
		if c := a.clients[addr]; c != nil {
			rules = c.rules
		}
		clients = append(clients, nftClient(addr, rules))
	}
	n, err := a.cfg.Kernel.Purge(clients, a.opts)
	if n > 0 {
		a.logf(Info, "ended %s that the rules now forbid", words.Count(n, "connection"))
	}
	if err != nil {
		a.logf(Error, "end the connections that the rules now forbid: %v", err)
	}
}

// handledDir holds the counters of handled lists, which dom0's tools
// wait on.
const handledDir = "/qubes-firewall-handled/"

// maxHandled bounds the counter: a count above it starts again from 0.
const maxHandled = 1 << 52

// writeBack writes what the stock agent writes after handling c's list n
// times: its counter, and what its names resolved to.
func (a *agent) writeBack(c *client, n int) {
	path := handledDir + c.addr.String()
	done := 0
	v, err := a.cfg.DB.Read(path)
	switch {
	case errors.Is(err, qubesdb.ErrNotFound):
	case err != nil:
		a.logf(Error, "%s: read %s: %v", c.addr, path, err)
	default:
		// Bounded, as a JSON number in the status file is exact.
		if done, err = strconv.Atoi(string(v)); err != nil || done < 0 || done > maxHandled {
			a.logf(Warning, "%s: %s holds %q, not a count; counting from 0", c.addr, path, v)
			done = 0
		}
	}
	c.handled = done + n
	if err := a.cfg.DB.Write(path, []byte(strconv.Itoa(c.handled))); err != nil {
		a.logf(Error, "%s: write %s: %v", c.addr, path, err)
	}
	a.writeDNS(c)
}

// writeDNS writes /dns/<ip>/<host>: the addresses of the client's family
// that each host name of its list resolved to, space-separated.
func (a *agent) writeDNS(c *client) {
	dir := "/dns/" + c.addr.String() + "/"
	if err := a.cfg.DB.Rm(dir); err != nil {
		a.logf(Error, "%s: remove %s: %v", c.addr, dir, err)
		return
	}
	for _, h := range c.hosts {
		path := dir + h
		if len(path) > qubesdb.MaxPath {
			a.logf(Warning, "%s: %s not written: %d characters, over QubesDB's %d", c.addr, path, len(path), qubesdb.MaxPath)
			continue
		}
		addrs, _ := a.cfg.Resolver.Resolve(h, family(c.addr))
		texts := make([]string, len(addrs))
		for i, addr := range addrs {
			texts[i] = addr.String()
		}
		if err := a.cfg.DB.Write(path, []byte(strings.Join(texts, " "))); err != nil {
			a.logf(Error, "%s: write %s: %v", c.addr, path, err)
		}
	}
}

// failure says what keeps c's list from being in force as written, if
// anything.
func (a *agent) failure(c *client) string {
	var parts []string
	if c.refused != "" {
		parts = append(parts, "list refused, all traffic rejected: "+c.refused)
	}
	for _, h := range c.blocked {
		parts = append(parts, fmt.Sprintf("%s, which a rule denies, has no IPv%d address: all traffic rejected", h, family(c.addr)))
	}
	for _, h := range c.skipped {
		parts = append(parts, fmt.Sprintf("%s has no IPv%d address: its allow rules match nothing", h, family(c.addr)))
	}
	if a.failed != nil {
		parts = append(parts, "last apply failed: "+a.failed.Error())
	}
	return strings.Join(parts, "; ")
}

// brief says what an apply changed: the chains by name if there are a
// few, or else how many, so that a line of the log stays a line.
func brief(c nftables.Change) string {
	const few = 8
	if len(c.Added)+len(c.Changed)+len(c.Removed) <= few {
		return c.String()
	}
	var parts []string
	for _, p := range []struct {
		what  string
		names []string
	}{{"added", c.Added}, {"changed", c.Changed}, {"removed", c.Removed}} {
		if len(p.names) > 0 {
			parts = append(parts, p.what+" "+words.Count(len(p.names), "chain"))
		}
	}
	return fmt.Sprintf("%s; %s unchanged", strings.Join(parts, ", "), words.Count(c.Unchanged, "chain"))
}
