package agent

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/backends/nftables"
	"github.com/qfw-dev/qfw/backends/qubesdb"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
)

var (
	addrA = netip.MustParseAddr("10.137.0.5")
	addrB = netip.MustParseAddr("fd09:24ef:4179::a89:6")
	addrC = netip.MustParseAddr("10.137.0.7")

	accept    = ir.Rule{Action: ir.Accept}
	drop      = ir.Rule{Action: ir.Drop}
	https     = ir.Rule{Action: ir.Accept, Match: ir.Match{Proto: ir.TCP, HasPorts: true, Ports: ir.PortRange{First: 443, Last: 443}}}
	denyLAN6  = ir.Rule{Action: ir.Drop, Match: ir.Match{Dst: ir.Dst{Prefix: netip.MustParsePrefix("fd00::/8")}}}
	toExample = ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: ir.Dst{Host: "example.com"}}}
)

// harness runs the agent against the stand-ins until the test ends.
type harness struct {
	t      *testing.T
	db     *fakeDB
	k      *fakeKernel
	res    *fakeResolver
	n      *fakeNotifier
	log    *logBuf
	status string
	reload chan struct{}
	cancel context.CancelFunc
	done   chan error
}

// newResolver returns the resolver of the tests, which knows
// example.com.
func newResolver() *fakeResolver {
	return &fakeResolver{
		table:   eval.Table{"example.com": {netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("2001:db8::34")}},
		servers: eval.QubesDNS(),
	}
}

// start runs the agent on db, as set up, and waits until it is ready.
func start(t *testing.T, db *fakeDB, k *fakeKernel) *harness {
	t.Helper()
	return startWith(t, db, k, newResolver())
}

func startWith(t *testing.T, db *fakeDB, k *fakeKernel, res *fakeResolver) *harness {
	t.Helper()
	h := &harness{
		t: t, db: db, k: k, res: res,
		n:      &fakeNotifier{ready: make(chan struct{}, 16)},
		log:    &logBuf{},
		status: filepath.Join(t.TempDir(), "run", "agent.json"),
		reload: make(chan struct{}, 1),
		done:   make(chan error, 1),
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	cfg := Config{
		DB: db, Kernel: k, Resolver: h.res, Notifier: h.n, StatusFile: h.status,
		Log: h.log.log, RetryAfter: 10 * time.Millisecond,
	}
	go func() { h.done <- Run(ctx, cfg, h.reload) }()
	t.Cleanup(func() {
		cancel()
		<-h.done
		if t.Failed() {
			t.Logf("agent's log:\n%s", h.log)
		}
	})
	select {
	case <-h.n.ready:
	case err := <-h.done:
		t.Fatalf("agent ended before it was ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("agent not ready after 10s")
	}
	return h
}

// wait waits until cond holds.
func (h *harness) wait(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("after 10s: not %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// handled returns the counter of addr.
func (h *harness) handled(addr netip.Addr) int {
	n, _ := strconv.Atoi(h.db.read(handledDir + addr.String()))
	return n
}

// waitHandled waits until addr's counter is n.
func (h *harness) waitHandled(addr netip.Addr, n int) {
	h.t.Helper()
	h.wait("handled "+strconv.Itoa(n)+" times: "+addr.String(), func() bool { return h.handled(addr) >= n })
	if got := h.handled(addr); got != n {
		h.t.Fatalf("%s handled %d times; want %d", addr, got, n)
	}
}

// digest returns the digest of the chain that rules, the list as the
// agent reads it (policy included), give addr.
func (h *harness) digest(addr netip.Addr, rules ...ir.Rule) string {
	return digest(h.res, addr, rules...)
}

// inForce checks that addr's chain is the one of rules, or that it has
// none if rules is nil.
func (h *harness) inForce(addr netip.Addr, rules ...ir.Rule) {
	h.t.Helper()
	want := ""
	if rules != nil {
		want = h.digest(addr, rules...)
	}
	if got := h.k.chain(addr); got != want {
		h.t.Fatalf("%s: chain %q in force; want %q (%v)", addr, got, want, rules)
	}
}

func (h *harness) readStatus() *Status {
	h.t.Helper()
	b, err := os.ReadFile(h.status)
	if err != nil {
		h.t.Fatal(err)
	}
	var s Status
	if err := json.Unmarshal(b, &s); err != nil {
		h.t.Fatal(err)
	}
	return &s
}

// twoClients is a QubesDB with two clients, of both families.
func twoClients(t *testing.T) *fakeDB {
	db := newFakeDB()
	db.publish(t, addrA, https)
	db.publish(t, addrB, denyLAN6, accept)
	db.Write(connected4, []byte(addrA.String()))
	db.Write(connected6, []byte(addrB.String()))
	return db
}

func TestStart(t *testing.T) {
	h := start(t, twoClients(t), newFakeKernel())
	h.inForce(addrA, https, drop)
	h.inForce(addrB, denyLAN6, accept, drop)
	h.waitHandled(addrA, 1)
	h.waitHandled(addrB, 1)
	if got := h.n.states(); !slices.Equal(got, []string{"READY=1"}) {
		t.Errorf("notified %q; want READY=1", got)
	}
	h.k.mu.Lock()
	if len(h.k.purged) != 1 || len(h.k.purged[0]) != 2 {
		t.Errorf("purged %v; want both clients once, at start", h.k.purged)
	}
	h.k.mu.Unlock()
	s := h.readStatus()
	if s.State != StateReady || len(s.Clients) != 2 {
		t.Fatalf("status %+v; want ready with two clients", s)
	}
	if c := s.Clients[0]; c.Address != addrA || c.Family != 4 || c.Rules != 1 || c.Handled != 1 || c.Applied == nil || c.Failure != "" {
		t.Errorf("status of %s: %+v", addrA, c)
	}
	if c := s.Clients[1]; c.Address != addrB || c.Family != 6 || c.Rules != 2 || c.Handled != 1 || c.Applied == nil || c.Failure != "" {
		t.Errorf("status of %s: %+v", addrB, c)
	}
}

func TestCommit(t *testing.T) {
	h := start(t, twoClients(t), newFakeKernel())
	h.db.publish(t, addrA, toExample, drop)
	h.waitHandled(addrA, 2)
	h.inForce(addrA, toExample, drop, drop)
	h.inForce(addrB, denyLAN6, accept, drop)
	if h.handled(addrB) != 1 {
		t.Errorf("%s handled again; only %s changed", addrB, addrA)
	}
	if got := h.db.read("/dns/10.137.0.5/example.com"); got != "93.184.216.34" {
		t.Errorf("/dns/10.137.0.5/example.com = %q; want 93.184.216.34", got)
	}
	if applies, _, _ := h.k.counts(); applies != 1 {
		t.Errorf("%d applies of the whole table; want 1, at start", applies)
	}
}

// A list that does not parse rejects all of its client's traffic, and
// the others are not affected.
func TestRefused(t *testing.T) {
	h := start(t, twoClients(t), newFakeKernel())
	dir := ir.QubesDBDir(addrA)
	h.db.Rm(dir + "/")
	h.db.Write(dir+"/policy", []byte("drop"))
	h.db.Write(dir+"/0000", []byte("action=accept proto=tcp dstports=443-443"))
	h.db.Write(dir+"/0001", []byte("action=accept expire=1700000000"))
	h.db.Write(dir, nil)
	h.waitHandled(addrA, 2)
	h.inForce(addrA, drop)
	h.inForce(addrB, denyLAN6, accept, drop)
	const why = `/qubes-firewall/10.137.0.5/0001 "action=accept expire=1700000000": option "expire" is not one dom0 writes for a firewall qube; want action, proto, dst4, dst6, dsthost, dstports, specialtarget or icmptype`
	if want := "<3>10.137.0.5: list refused, rejecting all its IPv4 traffic: " + why; !h.log.has(want) {
		t.Errorf("log lacks %q", want)
	}
	h.wait("status of the refused list", func() bool {
		s := h.readStatus()
		return len(s.Clients) == 2 && s.Clients[0].Failure == "list refused, all traffic rejected: "+why && s.Clients[0].Rules == 2
	})

	// The next good list is in force again.
	h.db.publish(t, addrA, accept)
	h.waitHandled(addrA, 3)
	h.inForce(addrA, accept, drop)
}

// A burst of commits converges on the last list, and each commit counts.
func TestBurst(t *testing.T) {
	h := start(t, twoClients(t), newFakeKernel())
	var last ir.Rule
	for i := range 100 {
		last = ir.Rule{Action: ir.Accept, Match: ir.Match{Proto: ir.UDP, HasPorts: true, Ports: ir.PortRange{First: uint16(1000 + i), Last: uint16(1000 + i)}}}
		h.db.publish(t, addrA, last)
	}
	h.waitHandled(addrA, 101)
	h.inForce(addrA, last, drop)
	h.inForce(addrB, denyLAN6, accept, drop)
}

// A list read at start while dom0 writes it is fixed by its commit.
func TestHalfWritten(t *testing.T) {
	db := twoClients(t)
	dir := ir.QubesDBDir(addrA)
	db.Rm(dir + "/")
	db.Write(dir+"/policy", []byte("drop"))
	db.Write(dir+"/0000", []byte("action=accept proto=tcp dstports=443-443"))
	h := start(t, db, newFakeKernel())
	h.inForce(addrA, https, drop)
	db.Write(dir+"/0001", []byte("action=accept dsthost=example.com"))
	db.Write(dir, nil)
	h.waitHandled(addrA, 2)
	h.inForce(addrA, https, toExample, drop)
}

// A client that leaves the connected ones loses its chains; one that
// comes back gets them again.
func TestConnected(t *testing.T) {
	db := twoClients(t)
	db.publish(t, addrC, accept)
	db.Write(connected4, []byte(addrA.String()+" "+addrC.String()))
	h := start(t, db, newFakeKernel())
	h.inForce(addrC, accept, drop)

	h.k.mu.Lock()
	if want := []netip.Addr{addrA, addrC, addrB}; !slices.Equal(h.k.connected, want) {
		t.Errorf("anti-spoofing of %v; want %v", h.k.connected, want)
	}
	h.k.mu.Unlock()

	db.Write(connected4, []byte(addrA.String()))
	h.wait("without "+addrC.String(), func() bool { return h.k.chain(addrC) == "" })
	h.k.mu.Lock()
	if want := []netip.Addr{addrA, addrB}; !slices.Equal(h.k.connected, want) {
		t.Errorf("anti-spoofing of %v; want %v", h.k.connected, want)
	}
	h.k.mu.Unlock()
	h.inForce(addrA, https, drop)
	h.wait("purge of "+addrC.String(), func() bool {
		h.k.mu.Lock()
		defer h.k.mu.Unlock()
		last := h.k.purged[len(h.k.purged)-1]
		return len(last) == 1 && last[0].Addr4 == addrC && slices.Equal(last[0].Rules4, []ir.Rule{drop})
	})
	// A reload does not bring it back: it is still gone.
	h.reload <- struct{}{}
	h.wait("reloaded", func() bool { return len(h.n.states()) == 3 })
	h.inForce(addrC)

	db.Write(connected4, []byte(addrA.String()+" "+addrC.String()))
	h.wait("with "+addrC.String(), func() bool { return h.k.chain(addrC) != "" })
	h.inForce(addrC, accept, drop)
}

func TestReload(t *testing.T) {
	h := start(t, twoClients(t), newFakeKernel())
	h.reload <- struct{}{}
	h.waitHandled(addrA, 2)
	h.wait("ready again", func() bool { return len(h.n.states()) == 3 })
	if got := h.n.states(); !slices.Equal(got, []string{"READY=1", "RELOADING=1", "READY=1"}) {
		t.Errorf("notified %q", got)
	}
	h.res.mu.Lock()
	reloads := h.res.reloads
	h.res.mu.Unlock()
	if applies, _, _ := h.k.counts(); reloads != 1 || applies != 2 {
		t.Errorf("%d reloads of the resolver and %d applies; want 1 and 2", reloads, applies)
	}
}

// A lost connection to QubesDB may have lost events: all again.
func TestReconnected(t *testing.T) {
	h := start(t, twoClients(t), newFakeKernel())
	h.db.events <- qubesdb.Event{Reconnected: true}
	h.waitHandled(addrB, 2)
	if applies, _, _ := h.k.counts(); applies != 2 {
		t.Errorf("%d applies; want 2", applies)
	}
}

// An apply the kernel refuses is retried with the whole table.
func TestRetry(t *testing.T) {
	k := newFakeKernel()
	k.fail = 2
	h := start(t, twoClients(t), k)
	h.wait("applied", func() bool { return h.k.chain(addrA) != "" })
	h.inForce(addrA, https, drop)
	h.inForce(addrB, denyLAN6, accept, drop)
	if !h.log.has("<3>the table: apply failed, the previous rules stay in force; retrying in 10ms: the kernel refused the transaction") {
		t.Error("log does not report the failed apply")
	}
	h.wait("status without failure", func() bool {
		s := h.readStatus()
		return len(s.Clients) == 2 && s.Clients[0].Failure == ""
	})

	k.mu.Lock()
	k.fail = 1
	k.mu.Unlock()
	h.db.publish(t, addrA, accept)
	h.wait("retried", func() bool { return h.k.chain(addrA) == h.digest(addrA, accept, drop) })
}

// Stopping leaves the table in force.
func TestStop(t *testing.T) {
	h := start(t, twoClients(t), newFakeKernel())
	h.cancel()
	if err := <-h.done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	h.done <- nil // for the cleanup
	h.inForce(addrA, https, drop)
	if got := h.n.states(); !slices.Equal(got, []string{"READY=1", "STOPPING=1"}) {
		t.Errorf("notified %q", got)
	}
	if s := h.readStatus(); s.State != StateStopped {
		t.Errorf("state %s; want stopped", s.State)
	}
}

// /dns/<ip>/<host> keys over QubesDB's path limit are left out, and said.
func TestDNSKeys(t *testing.T) {
	long := strings.Repeat("a", 40) + ".example"
	db := twoClients(t)
	db.publish(t, addrA, toExample, ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: ir.Dst{Host: long}}})
	h := start(t, db, newFakeKernel())
	if got := db.read("/dns/10.137.0.5/example.com"); got != "93.184.216.34" {
		t.Errorf("/dns/10.137.0.5/example.com = %q", got)
	}
	want := "<4>10.137.0.5: /dns/10.137.0.5/" + long + " not written: 64 characters, over QubesDB's 63"
	if !h.log.has(want) {
		t.Errorf("log lacks %q", want)
	}
}

// The agent watches the commit key of each client, connected address and
// client that left, not the directory of the lists: the keys of a list
// fire no event, and a key that names no address is not watched (it is
// reported when everything is read, see TestBadListNames).
func TestWatches(t *testing.T) {
	db := twoClients(t)
	db.publish(t, addrC, accept) // a client not connected
	h := start(t, db, newFakeKernel())
	want := []string{connected4, connected6, "/qubes-firewall/10.137.0.5", "/qubes-firewall/10.137.0.7", "/qubes-firewall/fd09:24ef:4179::a89:6"}
	h.watches(want)
	h.db.Write("/qubes-firewall/10.137.0.05", nil)
	h.db.publish(t, addrA, accept)
	h.waitHandled(addrA, 2)
	h.inForce(addrA, accept, drop)
	if h.log.has("10.137.0.05") {
		t.Errorf("the agent saw the write of a key it does not watch")
	}
	// C's list goes: its watch too, as it is neither a client nor
	// connected.
	dir := ir.QubesDBDir(addrC)
	db.Rm(dir + "/")
	db.Rm(dir)
	h.wait("without "+addrC.String(), func() bool { return h.k.chain(addrC) == "" })
	h.watches(slices.DeleteFunc(want, func(w string) bool { return w == dir }))
}

// watches checks that the agent watches want, each once, in any order.
func (h *harness) watches(want []string) {
	h.t.Helper()
	h.wait("watching "+strings.Join(want, " "), func() bool {
		h.db.mu.Lock()
		defer h.db.mu.Unlock()
		return slices.Equal(slices.Sorted(slices.Values(h.db.watches)), slices.Sorted(slices.Values(want)))
	})
}

// A client whose list dom0 writes before /connected-ips names it, as when
// it starts, is enforced once it is connected: the agent reads its list
// then, and watches its commit key from then on.
func TestCommitBeforeConnected(t *testing.T) {
	h := start(t, twoClients(t), newFakeKernel())
	h.db.publish(t, addrC, https)
	h.db.Write(connected4, []byte(addrA.String()+" "+addrC.String()))
	h.waitHandled(addrC, 1)
	h.inForce(addrC, https, drop)
	h.db.publish(t, addrC, accept)
	h.waitHandled(addrC, 2)
	h.inForce(addrC, accept, drop)
}

// A client that /connected-ips names before dom0 writes its list is
// enforced when its commit comes.
func TestConnectedBeforeCommit(t *testing.T) {
	h := start(t, twoClients(t), newFakeKernel())
	h.db.Write(connected4, []byte(addrA.String()+" "+addrC.String()))
	h.watches([]string{connected4, connected6, "/qubes-firewall/10.137.0.5", "/qubes-firewall/10.137.0.7", "/qubes-firewall/fd09:24ef:4179::a89:6"})
	h.inForce(addrC)
	h.db.publish(t, addrC, https)
	h.waitHandled(addrC, 1)
	h.inForce(addrC, https, drop)
}

func TestClientName(t *testing.T) {
	for _, tt := range []struct{ addr, want string }{
		{"10.137.0.5", "10-137-0-5"},
		{"fd09:24ef:4179::a89:6", "fd09-24ef-4179--a89-6"},
	} {
		if got := clientName(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("clientName(%s) = %s; want %s", tt.addr, got, tt.want)
		}
	}
}

// Names are looked up again when due, and the clients whose names
// changed are updated, without a commit.
func TestNamesRefreshed(t *testing.T) {
	db := twoClients(t)
	db.publish(t, addrA, toExample)
	db.publish(t, addrC, https)
	db.Write(connected4, []byte(addrA.String()+" "+addrC.String()))
	res := newResolver()
	res.later = eval.Table{"example.com": {netip.MustParseAddr("93.184.216.99")}}
	res.next = time.Now().Add(50 * time.Millisecond)
	h := startWith(t, db, newFakeKernel(), res)
	h.wait("the new address in force", func() bool {
		res.mu.Lock()
		defer res.mu.Unlock()
		return res.later == nil
	})
	h.wait("the new address in force", func() bool { return h.k.chain(addrA) == h.digest(addrA, toExample, drop) })
	h.wait("the new address in /dns", func() bool { return db.read("/dns/10.137.0.5/example.com") == "93.184.216.99" })
	h.inForce(addrC, https, drop)
	if applies, updates, elements := h.k.counts(); applies != 1 || updates != 0 || elements != 1 {
		t.Errorf("%d applies, %d client updates and %d element updates; want 1, 0 and 1", applies, updates, elements)
	}
	if h.handled(addrA) != 1 {
		t.Errorf("handled %d times; a refresh is no commit", h.handled(addrA))
	}
}

// When more than elements change, the clients are updated whole.
func TestNamesRefreshedWhole(t *testing.T) {
	db := twoClients(t)
	db.publish(t, addrA, toExample)
	res := newResolver()
	res.later = eval.Table{"example.com": {netip.MustParseAddr("93.184.216.99")}}
	res.next = time.Now().Add(50 * time.Millisecond)
	k := newFakeKernel()
	k.notElements = true
	h := startWith(t, db, k, res)
	h.wait("the new address in force", func() bool {
		res.mu.Lock()
		defer res.mu.Unlock()
		return res.later == nil
	})
	h.wait("the new address in force", func() bool { return h.k.chain(addrA) == h.digest(addrA, toExample, drop) })
	if applies, updates, elements := h.k.counts(); applies != 1 || updates != 1 || elements != 1 {
		t.Errorf("%d applies, %d client updates and %d element updates; want 1, 1 and 1", applies, updates, elements)
	}
}

// A name with no address makes its allow rules match nothing, and a deny
// to one reject all of its client's traffic; both are reported.
func TestNamesWithoutAddress(t *testing.T) {
	db := twoClients(t)
	db.publish(t, addrA,
		ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: ir.Dst{Host: "nosuch.example"}}},
		https)
	db.publish(t, addrC, ir.Rule{Action: ir.Drop, Match: ir.Match{Dst: ir.Dst{Host: "gone.example"}}}, accept)
	db.Write(connected4, []byte(addrA.String()+" "+addrC.String()))
	res := newResolver()
	res.table["nosuch.example"] = nil
	res.table["gone.example"] = nil
	h := startWith(t, db, newFakeKernel(), res)
	for _, want := range []string{
		"<4>10.137.0.5: nosuch.example has no IPv4 address: its allow rules match nothing",
		"<3>10.137.0.7: gone.example, which a rule denies, has no IPv4 address: rejecting all its IPv4 traffic",
	} {
		if !h.log.has(want) {
			t.Errorf("log lacks %q", want)
		}
	}
	h.inForce(addrC, drop)
	s := h.readStatus()
	if got := s.Clients[0].Failure; got != "nosuch.example has no IPv4 address: its allow rules match nothing" {
		t.Errorf("failure of %s: %q", s.Clients[0].Address, got)
	}
	if got := s.Clients[1].Failure; got != "gone.example, which a rule denies, has no IPv4 address: all traffic rejected" {
		t.Errorf("failure of %s: %q", s.Clients[1].Address, got)
	}
}

// A client whose list and commit key dom0 removes is removed.
func TestListRemoved(t *testing.T) {
	db := twoClients(t)
	db.publish(t, addrC, toExample)
	h := start(t, db, newFakeKernel())
	h.inForce(addrC, toExample, drop)
	if db.read("/dns/10.137.0.7/example.com") == "" {
		t.Fatal("no /dns/10.137.0.7/example.com")
	}
	dir := ir.QubesDBDir(addrC)
	db.Rm(dir + "/")
	db.Rm(dir)
	h.wait("without "+addrC.String(), func() bool { return h.k.chain(addrC) == "" })
	h.inForce(addrA, https, drop)
	if _, err := db.Read("/dns/10.137.0.7/example.com"); err == nil {
		t.Error("/dns/10.137.0.7/example.com left behind")
	}
	if !h.log.has("<6>10.137.0.7: removed: its list is no longer in QubesDB") {
		t.Error("the log does not say the client was removed")
	}
}

func TestBrief(t *testing.T) {
	many := make([]string, 9)
	for i := range many {
		many[i] = "c4-" + strconv.Itoa(i)
	}
	for _, tt := range []struct {
		c    nftables.Change
		want string
	}{
		{nftables.Change{Added: []string{"c4-a"}, Unchanged: 1}, "added c4-a; 1 chains unchanged"},
		{nftables.Change{Added: many, Removed: []string{"c6-x"}, Unchanged: 1}, "added 9 chains, removed 1 chain; 1 chain unchanged"},
	} {
		if got := brief(tt.c); got != tt.want {
			t.Errorf("brief(%+v) = %q; want %q", tt.c, got, tt.want)
		}
	}
}

// Events that keep coming do not put a retry off.
func TestRetryNotPutOff(t *testing.T) {
	k := newFakeKernel()
	k.fail = 1
	db := twoClients(t)
	h := startWith(t, db, k, newResolver())
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			// Keys of a list being written: events that ask nothing.
			db.Write(ir.QubesDBDir(addrC)+"/policy", []byte("drop"))
			time.Sleep(time.Millisecond)
		}
	}()
	// Retried after 10ms, not when the events stop.
	deadline := time.Now().Add(time.Second)
	for h.k.chain(addrA) == "" {
		if time.Now().After(deadline) {
			t.Fatal("not retried after 1s of events")
		}
		time.Sleep(time.Millisecond)
	}
}

// Entries of /connected-ips that are not addresses of its family are
// left out, and said.
func TestConnectedHostile(t *testing.T) {
	db := twoClients(t)
	db.Write(connected4, []byte("10.137.0.5  fd00::1\tbogus 10.137.0.05 ::ffff:10.137.0.7"))
	h := start(t, db, newFakeKernel())
	for _, want := range []string{
		"<4>/connected-ips: fd00::1 is not an IPv4 address; left out",
		`<4>/connected-ips: "bogus" is not a client address as dom0 writes them; left out`,
		`<4>/connected-ips: "10.137.0.05" is not a client address as dom0 writes them; left out`,
		`<4>/connected-ips: "::ffff:10.137.0.7" is not a client address as dom0 writes them; left out`,
	} {
		if !h.log.has(want) {
			t.Errorf("log lacks %q", want)
		}
	}
	h.k.mu.Lock()
	defer h.k.mu.Unlock()
	if want := []netip.Addr{addrA, addrB}; !slices.Equal(h.k.connected, want) {
		t.Errorf("anti-spoofing of %v; want %v", h.k.connected, want)
	}
}

// Keys under /qubes-firewall/ that name no address are left out at
// start, and said once each.
func TestBadListNames(t *testing.T) {
	db := twoClients(t)
	db.Write("/qubes-firewall/10.137.0.05/policy", []byte("drop"))
	db.Write("/qubes-firewall/10.137.0.05/0000", []byte("action=accept"))
	db.Write("/qubes-firewall/sys-net", nil)
	h := start(t, db, newFakeKernel())
	for _, want := range []string{
		`<4>/qubes-firewall/10.137.0.05 ignored: "10.137.0.05" is not a client address as dom0 writes them`,
		`<4>/qubes-firewall/sys-net ignored: "sys-net" is not a client address as dom0 writes them`,
	} {
		if n := strings.Count(h.log.String(), want); n != 1 {
			t.Errorf("log has %q %d times; want once", want, n)
		}
	}
	h.inForce(addrA, https, drop)
	if s := h.readStatus(); len(s.Clients) != 2 {
		t.Errorf("status of %d clients; want 2", len(s.Clients))
	}
}

// Commits of several clients that wait together are applied with the
// whole table, in one transaction.
func TestCommitsTogether(t *testing.T) {
	db := twoClients(t)
	db.publish(t, addrC, accept)
	db.Write(connected4, []byte(addrA.String()+" "+addrC.String()))
	k := newFakeKernel()
	h := start(t, db, k)
	hold := make(chan struct{})
	k.mu.Lock()
	k.hold = hold
	k.mu.Unlock()
	released := false
	release := func() {
		if !released {
			released = true
			k.mu.Lock()
			k.hold = nil
			k.mu.Unlock()
			close(hold)
		}
	}
	defer release()
	// C's commit keeps the agent busy while A's and B's come.
	db.publish(t, addrC, https)
	h.wait("C's update begun", func() bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.held == 1
	})
	db.publish(t, addrA, toExample)
	db.publish(t, addrB, accept)
	release()
	h.waitHandled(addrA, 2)
	h.waitHandled(addrB, 2)
	h.inForce(addrA, toExample, drop)
	h.inForce(addrB, accept, drop)
	h.inForce(addrC, https, drop)
	if applies, updates, _ := k.counts(); applies != 2 || updates != 1 {
		t.Errorf("%d applies and %d client updates; want 2 (start, then A and B) and 1 (C)", applies, updates)
	}
}

// A commit that changes only the elements of its client's sets, after one
// that updated the client alone, sends those elements: its chains keep
// their rules. Any other change, or the first commit after a whole apply,
// updates the client's part whole; a failed element update is retried
// with the whole table.
func TestCommitElements(t *testing.T) {
	http := https
	http.Ports = ir.PortRange{First: 80, Last: 80}
	k := newFakeKernel()
	h := start(t, twoClients(t), k)
	steps := []struct {
		rules             []ir.Rule
		updates, elements int
	}{
		{[]ir.Rule{https}, 1, 0}, // the first after the start's apply
		{[]ir.Rule{http}, 1, 1},  // the port moves: elements only
		{[]ir.Rule{https}, 1, 2},
		{[]ir.Rule{accept}, 2, 2}, // a chain of another shape
		{[]ir.Rule{https}, 3, 2},
	}
	for i, s := range steps {
		h.db.publish(t, addrA, s.rules...)
		h.waitHandled(addrA, i+2)
		h.inForce(addrA, append(s.rules, drop)...)
		k.mu.Lock()
		updates, elements := k.updates, k.clientElements
		k.mu.Unlock()
		if updates != s.updates || elements != s.elements {
			t.Fatalf("commit %d: %d client updates and %d element updates; want %d and %d", i, updates, elements, s.updates, s.elements)
		}
	}
	k.mu.Lock()
	k.fail = 1
	k.mu.Unlock()
	h.db.publish(t, addrA, http)
	h.wait("applied whole after the failed element update", func() bool {
		applies, _, _ := k.counts()
		return applies == 2
	})
	h.inForce(addrA, http, drop)
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.clientElements != 3 {
		t.Errorf("%d element updates; want 3", k.clientElements)
	}
}

// A watch that cannot be registered has everything read and watched again
// after RetryAfter: the client's commits are then seen.
func TestWatchFails(t *testing.T) {
	db := twoClients(t)
	// Both tries at start fail: the watch of the connected address,
	// and that of the client found in the lists.
	db.failWatch = map[string]int{"/qubes-firewall/10.137.0.5": 2}
	h := start(t, db, newFakeKernel())
	h.watches([]string{connected4, connected6, "/qubes-firewall/10.137.0.5", "/qubes-firewall/fd09:24ef:4179::a89:6"})
	if want := "<3>10.137.0.5: watch /qubes-firewall/10.137.0.5: no reply from the daemon; reading everything again in 10ms"; !h.log.has(want) {
		t.Errorf("log lacks %q", want)
	}
	h.waitHandled(addrA, 2) // at start, and again once watched
	h.db.publish(t, addrA, accept)
	h.waitHandled(addrA, 3)
	h.inForce(addrA, accept, drop)
}
