package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/backends/nftables"
	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/backends/qubesdb"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
)

// The agent's unit tests run it against stand-ins: a QubesDB in memory
// that fires watches as the daemon does, a kernel that keeps each chain's
// digest, and a resolver with a fixed table. The tests with real parts
// (process_test.go) run it as a process against the real kernel.

// fakeDB is a QubesDB in memory.
type fakeDB struct {
	mu      sync.Mutex
	keys    map[string]string
	watches []string
	events  chan qubesdb.Event
	// failWatch makes the next Watch of each path fail, as many times
	// as it says.
	failWatch map[string]int
}

func newFakeDB() *fakeDB {
	return &fakeDB{keys: map[string]string{}, events: make(chan qubesdb.Event, 1<<16)}
}

// fire sends the event of a change of path to each matching watch.
func (db *fakeDB) fire(path string) {
	for _, w := range db.watches {
		if w == path || strings.HasSuffix(w, "/") && strings.HasPrefix(path, w) {
			db.events <- qubesdb.Event{Path: path}
		}
	}
}

func (db *fakeDB) Read(path string) ([]byte, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	v, ok := db.keys[path]
	if !ok {
		return nil, qubesdb.ErrNotFound
	}
	return []byte(v), nil
}

func (db *fakeDB) MultiRead(prefix string) ([]qubesdb.Entry, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	var out []qubesdb.Entry
	for _, k := range slices.Sorted(maps.Keys(db.keys)) {
		if strings.HasPrefix(k, prefix) {
			out = append(out, qubesdb.Entry{Path: k, Value: []byte(db.keys[k])})
		}
	}
	return out, nil
}

func (db *fakeDB) List(prefix string) ([]string, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	var out []string
	for _, k := range slices.Sorted(maps.Keys(db.keys)) {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out, nil
}

func (db *fakeDB) Write(path string, value []byte) error {
	if len(path) > qubesdb.MaxPath {
		return fmt.Errorf("path %q too long", path)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	db.keys[path] = string(value)
	db.fire(path)
	return nil
}

func (db *fakeDB) Rm(path string) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	for k := range db.keys {
		if k == path || strings.HasSuffix(path, "/") && strings.HasPrefix(k, path) {
			delete(db.keys, k)
		}
	}
	db.fire(path)
	return nil
}

func (db *fakeDB) Watch(path string) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.failWatch[path] > 0 {
		db.failWatch[path]--
		return errors.New("no reply from the daemon")
	}
	db.watches = append(db.watches, path)
	return nil
}

// Unwatch removes one registration of path, as the daemon does.
func (db *fakeDB) Unwatch(path string) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	i := slices.Index(db.watches, path)
	if i < 0 {
		return qubesdb.ErrNotFound
	}
	db.watches = slices.Delete(db.watches, i, i+1)
	return nil
}

func (db *fakeDB) Events() <-chan qubesdb.Event { return db.events }

// do performs dom0's operations.
func (db *fakeDB) do(t testing.TB, entries []qubes.Entry) {
	t.Helper()
	for _, e := range entries {
		var err error
		if e.Op == qubes.Remove {
			err = db.Rm(e.Path)
		} else {
			err = db.Write(e.Path, []byte(e.Value))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// publish writes rules for ip as dom0 does, commit last.
func (db *fakeDB) publish(t testing.TB, ip netip.Addr, rules ...ir.Rule) {
	t.Helper()
	db.do(t, qubes.Entries(ip, rules, 0))
}

// read returns the value of path, or "" if there is none.
func (db *fakeDB) read(path string) string {
	v, _ := db.Read(path)
	return string(v)
}

// fakeKernel keeps the digest of each client chain in force.
type fakeKernel struct {
	mu     sync.Mutex
	chains map[string]string
	// fail makes the next applies fail, while above zero.
	fail                       int
	applies, updates, elements int
	// clientElements counts the element updates of one client's part.
	clientElements int
	// connected are the anti-spoofing sets' addresses of the last apply.
	connected []netip.Addr
	// hold, if not nil, keeps UpdateClient waiting until it is closed;
	// held counts the calls that began.
	hold chan struct{}
	held int
	// notElements makes UpdateElements refuse every change.
	notElements bool
	purged      [][]nftables.Client
}

func newFakeKernel() *fakeKernel { return &fakeKernel{chains: map[string]string{}} }

func digests(t *nftables.Table, own func(string) bool) map[string]string {
	out := map[string]string{}
	for _, c := range t.Chains {
		if c.Name != "forward" && own(c.Name) {
			out[c.Name] = c.Rules[len(c.Rules)-1].Comment
		}
	}
	return out
}

func (k *fakeKernel) Apply(t *nftables.Table) (nftables.Change, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.applies++
	if k.fail > 0 {
		k.fail--
		return nftables.Change{}, errors.New("the kernel refused the transaction")
	}
	k.chains = digests(t, func(string) bool { return true })
	k.connected = nil
	for _, set := range t.Sets {
		if set.Name == "connected4" || set.Name == "connected6" {
			for _, e := range set.Elements {
				k.connected = append(k.connected, e.First)
			}
		}
	}
	return nftables.Change{}, nil
}

func (k *fakeKernel) UpdateClient(t *nftables.Table, client string) (nftables.Change, error) {
	k.mu.Lock()
	hold := k.hold
	k.held++
	k.mu.Unlock()
	if hold != nil {
		<-hold
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.updates++
	if k.fail > 0 {
		k.fail--
		return nftables.Change{}, errors.New("the kernel refused the transaction")
	}
	own := func(name string) bool {
		return name == nftables.ChainName(client, 4) || name == nftables.ChainName(client, 6)
	}
	maps.DeleteFunc(k.chains, func(name, _ string) bool { return own(name) })
	maps.Copy(k.chains, digests(t, own))
	return nftables.Change{}, nil
}

// UpdateClientElements takes the new digests of client's chains, if old
// and new have the same chains with as many rules each, and old's are in
// force.
func (k *fakeKernel) UpdateClientElements(old, new *nftables.Table, client string) (nftables.Change, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(old.Chains) != len(new.Chains) {
		return nftables.Change{}, fmt.Errorf("not the same chains: %w", nftables.ErrNotElementOnly)
	}
	for i, c := range old.Chains {
		n := new.Chains[i]
		if c.Name != n.Name || len(c.Rules) != len(n.Rules) || c.Name != "forward" && k.chains[c.Name] != c.Rules[len(c.Rules)-1].Comment {
			return nftables.Change{}, fmt.Errorf("not the same chains, or not in force: %w", nftables.ErrNotElementOnly)
		}
	}
	k.clientElements++
	if k.fail > 0 {
		k.fail--
		return nftables.Change{}, errors.New("the kernel refused the transaction")
	}
	maps.Copy(k.chains, digests(new, func(name string) bool {
		return name == nftables.ChainName(client, 4) || name == nftables.ChainName(client, 6)
	}))
	return nftables.Change{}, nil
}

// UpdateElements takes the new digests of the chains that old and new
// both have, if they have the same chains.
func (k *fakeKernel) UpdateElements(old, new *nftables.Table) (nftables.Change, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.elements++
	if k.notElements || len(old.Chains) != len(new.Chains) {
		return nftables.Change{}, fmt.Errorf("not the same chains: %w", nftables.ErrNotElementOnly)
	}
	for i, c := range old.Chains {
		if c.Name != new.Chains[i].Name || c.Name != "forward" && k.chains[c.Name] != c.Rules[len(c.Rules)-1].Comment {
			return nftables.Change{}, fmt.Errorf("not the chains in force: %w", nftables.ErrNotElementOnly)
		}
	}
	maps.Copy(k.chains, digests(new, func(string) bool { return true }))
	return nftables.Change{}, nil
}

func (k *fakeKernel) Purge(clients []nftables.Client, _ nftables.Options) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.purged = append(k.purged, clients)
	return 0, nil
}

// counts returns the number of applies, client updates and element
// updates so far.
func (k *fakeKernel) counts() (applies, updates, elements int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.applies, k.updates, k.elements
}

// digest returns the digest of addr's chain for rules, with the names
// resolved by res.
func digest(res *fakeResolver, addr netip.Addr, rules ...ir.Rule) string {
	t, _ := nftables.Lower([]nftables.Client{nftClient(addr, rules)}, nftables.Options{Resolver: res, DNS4: res.servers})
	return digests(t, func(string) bool { return true })[nftables.ChainName(clientName(addr), family(addr))]
}

// chain returns the digest of the chain in force for addr, or "" if none.
func (k *fakeKernel) chain(addr netip.Addr) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.chains[nftables.ChainName(clientName(addr), family(addr))]
}

// fakeResolver resolves from a table. A test that sets later has the
// table become later at the first Refresh of names that are due, at next.
type fakeResolver struct {
	mu      sync.Mutex
	table   eval.Table
	servers []netip.Addr
	reloads int
	later   eval.Table
	next    time.Time
	// refreshed are the names of each Refresh.
	refreshed [][]string
}

func (r *fakeResolver) Resolve(host string, family int) ([]netip.Addr, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.table.Resolve(host, family)
}

func (r *fakeResolver) Refresh(_ context.Context, hosts []string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refreshed = append(r.refreshed, slices.Clone(hosts))
	if r.later == nil || time.Now().Before(r.next) {
		return nil, nil
	}
	var changed []string
	for _, h := range hosts {
		if !slices.Equal(r.table[h], r.later[h]) {
			changed = append(changed, h)
		}
	}
	r.table, r.later = r.later, nil
	return changed, nil
}

func (r *fakeResolver) NextRefresh() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.later == nil {
		return time.Time{}
	}
	return r.next
}

func (r *fakeResolver) Due() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.later == nil || time.Now().Before(r.next) {
		return nil
	}
	return slices.Sorted(maps.Keys(r.later))
}

func (r *fakeResolver) Retain([]string)                {}
func (r *fakeResolver) Servers() (v4, v6 []netip.Addr) { return r.servers, nil }
func (r *fakeResolver) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reloads++
	return nil
}

// fakeNotifier records what the agent tells the service manager.
type fakeNotifier struct {
	mu    sync.Mutex
	sent  []string
	ready chan struct{}
}

func (n *fakeNotifier) add(s string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, s)
	return nil
}

func (n *fakeNotifier) Ready() error {
	n.add("READY=1")
	select {
	case n.ready <- struct{}{}:
	default:
	}
	return nil
}
func (n *fakeNotifier) Reloading() error      { return n.add("RELOADING=1") }
func (n *fakeNotifier) Stopping() error       { return n.add("STOPPING=1") }
func (n *fakeNotifier) Status(s string) error { return nil }

func (n *fakeNotifier) states() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.sent)
}

// logBuf collects the agent's log lines.
type logBuf struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuf) log(p Priority, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf("<%d>%s", p, line))
}

func (l *logBuf) has(sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, sub) {
			return true
		}
	}
	return false
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}
