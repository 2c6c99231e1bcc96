package main

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/qfw-dev/qfw/backends/nftables"
	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/backends/qubesdb/qubesdbtest"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/internal/netnstest"
	"github.com/qfw-dev/qfw/internal/testnet"
)

// The tests of this file run qfw agent as a process, as systemd runs it,
// on the test network of internal/testnet (root; CI=true makes them fail
// instead of skip without it): the agent applies qfw's table in the
// firewall namespace, QubesDB is qubesdbtest's server in the test process,
// driven as dom0 drives the firewall qube's (remove the subtree, write the
// policy and the rules, commit last), and real packets from the clients
// say what is in force.

// agentNet is the test network, QubesDB, and the agent's files.
type agentNet struct {
	t      *testing.T
	topo   *testnet.Topology
	srv    *qubesdbtest.Server
	dir    string
	status string
}

func newAgentNet(t *testing.T, clients ...nftables.Client) *agentNet {
	t.Helper()
	netnstest.Need(t)
	if _, err := exec.LookPath("qfw"); err != nil {
		t.Fatalf("qfw, which TestMain puts in $PATH: %v", err)
	}
	n := &agentNet{t: t, topo: testnet.New(t, clients), dir: t.TempDir()}
	n.status = filepath.Join(n.dir, "run", "agent.json")
	srv, err := qubesdbtest.NewServer(n.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	n.srv = srv
	// Qubes' virtual DNS servers, which the net namespace answers for.
	if err := os.WriteFile(filepath.Join(n.dir, "resolv.conf"), []byte("nameserver 10.139.1.1\nnameserver 10.139.1.2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(n.dir, "hooks"), 0o755); err != nil {
		t.Fatal(err)
	}
	return n
}

// publish writes rules for ip as dom0 does.
func (n *agentNet) publish(ip netip.Addr, rules ...ir.Rule) {
	n.t.Helper()
	n.do(qubes.Entries(ip, rules, 0))
}

// publishRaw writes a list of ip as given: its policy and rule strings,
// keyed by their numbers.
func (n *agentNet) publishRaw(ip netip.Addr, policy string, rules map[string]string) {
	n.t.Helper()
	dir := ir.QubesDBDir(ip)
	entries := []qubes.Entry{{Op: qubes.Remove, Path: dir + "/"}, {Op: qubes.Write, Path: dir + "/policy", Value: policy}}
	for k, v := range rules {
		entries = append(entries, qubes.Entry{Op: qubes.Write, Path: dir + "/" + k, Value: v})
	}
	n.do(append(entries, qubes.Entry{Op: qubes.Write, Path: dir}))
}

func (n *agentNet) do(entries []qubes.Entry) {
	n.t.Helper()
	for _, e := range entries {
		if e.Op == qubes.Remove {
			n.srv.Rm(e.Path)
			continue
		}
		if err := n.srv.Write(e.Path, []byte(e.Value)); err != nil {
			n.t.Fatal(err)
		}
	}
}

// connect writes the connected clients' addresses, as dom0 does when a
// client starts or stops.
func (n *agentNet) connect(addrs ...netip.Addr) {
	n.t.Helper()
	var v4, v6 []string
	for _, a := range addrs {
		if a.Is4() {
			v4 = append(v4, a.String())
		} else {
			v6 = append(v6, a.String())
		}
	}
	for _, kv := range [][2]string{{"/connected-ips", strings.Join(v4, " ")}, {"/connected-ips6", strings.Join(v6, " ")}} {
		if err := n.srv.Write(kv[0], []byte(kv[1])); err != nil {
			n.t.Fatal(err)
		}
	}
}

// handled returns the counter /qubes-firewall-handled/<ip>.
func (n *agentNet) handled(ip netip.Addr) int {
	v, _ := n.srv.Read("/qubes-firewall-handled/" + ip.String())
	c, _ := strconv.Atoi(string(v))
	return c
}

// waitHandled waits until the counter of ip is at least count.
func (n *agentNet) waitHandled(ip netip.Addr, count int, p *agentProc) {
	n.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for n.handled(ip) < count {
		if time.Now().After(deadline) {
			n.t.Fatalf("after 60s %s handled %d times; want %d\nagent's log:\n%s", ip, n.handled(ip), count, p.log())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// agentProc is a running qfw agent.
type agentProc struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func (p *agentProc) log() string { return p.stderr.String() }

// start runs qfw agent on the test network with args besides the
// network's own: in the test's network namespace, applying in the
// firewall's (--netns).
func (n *agentNet) start(args ...string) *agentProc {
	n.t.Helper()
	return n.run(exec.Command("qfw", append(n.args("--netns", n.topo.FW.File.Name()), args...)...))
}

// startInside runs qfw agent inside the firewall's network namespace, as
// in a firewall qube: its lookups of host names go to the servers there.
func (n *agentNet) startInside(args ...string) *agentProc {
	n.t.Helper()
	qfw, err := exec.LookPath("qfw")
	if err != nil {
		n.t.Fatal(err)
	}
	return n.run(exec.Command("ip", append([]string{"netns", "exec", n.topo.FW.Name, qfw}, append(n.args(), args...)...)...))
}

func (n *agentNet) args(more ...string) []string {
	return append([]string{"agent",
		"--qubesdb", n.srv.Path(),
		"--resolv-conf", filepath.Join(n.dir, "resolv.conf"),
		"--status-file", n.status,
		"--hooks-root", filepath.Join(n.dir, "hooks"),
	}, more...)
}

func (n *agentNet) run(cmd *exec.Cmd) *agentProc {
	n.t.Helper()
	p := &agentProc{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	n.t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		p.done <- nil
		if n.t.Failed() {
			n.t.Logf("agent's log:\n%s", p.log())
		}
	})
	return p
}

// stop sends sig to the agent and waits for it to end.
func (p *agentProc) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("the agent did not end 30s after %s", sig)
		return nil
	}
}

// probe is a packet from a client and what must become of it.
type probe struct {
	client string
	testnet.Probe
	want testnet.Fate
}

func tcp(dst string, port uint16) testnet.Probe {
	return testnet.Probe{Proto: "tcp", Dst: netip.MustParseAddr(dst), Port: port}
}

func udp(dst string, port uint16) testnet.Probe {
	return testnet.Probe{Proto: "udp", Dst: netip.MustParseAddr(dst), Port: port}
}

func echo(dst string) testnet.Probe {
	return testnet.Probe{Proto: "icmp", Dst: netip.MustParseAddr(dst)}
}

// check sends each probe, and fails the test for each whose fate is not
// the one wanted.
func (n *agentNet) check(p *agentProc, probes ...probe) {
	n.t.Helper()
	var wg sync.WaitGroup
	errs := make([]string, len(probes))
	for i, pr := range probes {
		wg.Go(func() {
			got, err := n.topo.Clients[pr.client].Send(pr.Probe)
			switch {
			case err != nil:
				errs[i] = fmt.Sprintf("%s: %s: %v", pr.client, pr.Probe, err)
			case got != pr.want:
				errs[i] = fmt.Sprintf("%s: %s %s; want %s", pr.client, pr.Probe, got, pr.want)
			}
		})
	}
	wg.Wait()
	failed := false
	for _, e := range errs {
		if e != "" {
			n.t.Error(e)
			failed = true
		}
	}
	if failed {
		n.t.Fatalf("agent's log:\n%s", p.log())
	}
}

var (
	work4 = netip.MustParseAddr("10.137.0.5")
	work6 = netip.MustParseAddr("fd09:24ef:4179::a89:5")
	web4  = netip.MustParseAddr("10.137.0.6")
	dev4  = netip.MustParseAddr("10.137.0.7")
)

func prefixRule(a ir.Action, prefix string, proto ir.Proto, first, last uint16) ir.Rule {
	r := ir.Rule{Action: a, Match: ir.Match{Dst: ir.Dst{Prefix: netip.MustParsePrefix(prefix)}, Proto: proto}}
	if first != 0 {
		r.HasPorts, r.Ports = true, ir.PortRange{First: first, Last: last}
	}
	return r
}

// workList is a list of every kind of rule: by address, prefix, port
// range, ICMP type and DNS, in both families.
var workList = []ir.Rule{
	prefixRule(ir.Accept, "192.0.2.0/24", ir.TCP, 80, 90),
	prefixRule(ir.Drop, "198.51.100.7/32", ir.AnyProto, 0, 0),
	prefixRule(ir.Accept, "198.51.100.0/24", ir.UDP, 1000, 2000),
	{Action: ir.Accept, Match: ir.Match{Proto: ir.ICMP, HasICMPType: true, ICMPType: 8}},
	{Action: ir.Accept, Match: ir.Match{DNS: true}},
	prefixRule(ir.Accept, "2001:db8::/48", ir.TCP, 443, 443),
	prefixRule(ir.Drop, "fd00::/16", ir.AnyProto, 0, 0),
}

// TestAgentEnforces runs the agent on three clients, one with both
// families, and checks with real packets the lists dom0 wrote: what they
// allow passes, the rest is rejected; a list that does not parse rejects
// all its client's traffic and leaves the others' alone, until a good one
// comes; each commit counts once.
func TestAgentEnforces(t *testing.T) {
	n := newAgentNet(t,
		nftables.Client{Name: "work", Addr4: work4, Addr6: work6},
		nftables.Client{Name: "web", Addr4: web4},
		nftables.Client{Name: "dev", Addr4: dev4})
	n.connect(work4, work6, web4, dev4)
	n.publish(work4, workList...)
	n.publish(work6, workList...)
	n.publishRaw(web4, "drop", map[string]string{"0000": "action=accept proto=tcp dstports=80-80", "0001": "action=accept comment=web"})
	n.publish(dev4, prefixRule(ir.Accept, "203.0.113.0/24", ir.AnyProto, 0, 0))
	// A hook, which runs before the lists are applied.
	mark := filepath.Join(n.dir, "hook-ran")
	hook := filepath.Join(n.dir, "hooks", "etc", "qubes", "qubes-firewall.d", "10-mark")
	if err := os.MkdirAll(filepath.Dir(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hook, []byte("#!/bin/sh\ntouch "+mark+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := n.start()
	for _, a := range []netip.Addr{work4, work6, web4, dev4} {
		n.waitHandled(a, 1, p)
	}
	if _, err := os.Stat(mark); err != nil {
		t.Errorf("the hook did not run: %v", err)
	}
	rejected, accepted := testnet.Rejected, testnet.Accepted
	n.check(p,
		probe{"work", tcp("192.0.2.10", 85), accepted},
		probe{"work", tcp("192.0.2.10", 80), accepted},
		probe{"work", tcp("192.0.2.10", 91), rejected},
		probe{"work", tcp("192.0.3.10", 85), rejected},
		probe{"work", udp("198.51.100.7", 1500), rejected},
		probe{"work", udp("198.51.100.8", 1500), accepted},
		probe{"work", udp("198.51.100.8", 2001), rejected},
		probe{"work", echo("203.0.113.1"), accepted},
		probe{"work", udp("10.139.1.1", 53), accepted},
		probe{"work", tcp("10.139.1.2", 53), accepted},
		probe{"work", udp("10.139.1.1", 54), rejected},
		probe{"work", udp("10.139.1.3", 53), rejected},
		probe{"work", tcp("2001:db8::1", 443), accepted},
		probe{"work", tcp("2001:db8::1", 444), rejected},
		probe{"work", tcp("2001:db8:1::1", 443), rejected},
		probe{"work", echo("2001:db8::1"), accepted},
		probe{"work", tcp("fd00::1", 443), rejected},
		// web's list does not parse: all of its traffic is rejected.
		probe{"web", tcp("192.0.2.10", 80), rejected},
		probe{"web", echo("203.0.113.1"), rejected},
		probe{"dev", tcp("203.0.113.9", 22), accepted},
		probe{"dev", tcp("192.0.2.10", 80), rejected},
	)
	if log := p.log(); !strings.Contains(log, `qfw agent: error: 10.137.0.6: list refused, rejecting all its IPv4 traffic: /qubes-firewall/10.137.0.6/0001 "action=accept comment=web": option "comment" is not one dom0 writes for a firewall qube`) {
		t.Errorf("the log does not say why web's list is refused:\n%s", log)
	}
	out, err := exec.Command("qfw", "agent", "status", "--status-file", n.status).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "10.137.0.6             IPv4    2      1        ") || !strings.Contains(string(out), "list refused, all traffic rejected") {
		t.Errorf("qfw agent status: %v\n%s", err, out)
	}

	// A good list for web; the others stay as they were.
	n.publish(web4, prefixRule(ir.Accept, "192.0.2.0/24", ir.TCP, 80, 80))
	n.waitHandled(web4, 2, p)
	n.check(p,
		probe{"web", tcp("192.0.2.10", 80), accepted},
		probe{"web", tcp("192.0.2.10", 81), rejected},
		probe{"work", tcp("192.0.2.10", 85), accepted},
		probe{"dev", tcp("203.0.113.9", 22), accepted},
	)
	for a, want := range map[netip.Addr]int{work4: 1, work6: 1, web4: 2, dev4: 1} {
		if got := n.handled(a); got != want {
			t.Errorf("%s handled %d times; want %d", a, got, want)
		}
	}
}

// TestAgentClientsJoinAndLeave: a client that leaves /connected-ips loses
// its chains, and its packets meet the forward chain's policy; one that
// comes back has its list in force again. A new client's list is in force
// on its first commit.
func TestAgentClientsJoinAndLeave(t *testing.T) {
	n := newAgentNet(t,
		nftables.Client{Name: "work", Addr4: work4},
		nftables.Client{Name: "dev", Addr4: dev4})
	allow := prefixRule(ir.Accept, "203.0.113.0/24", ir.TCP, 1, 65535)
	n.connect(work4)
	n.publish(work4, allow)
	p := n.start()
	n.waitHandled(work4, 1, p)
	n.check(p, probe{"work", tcp("203.0.113.9", 22), testnet.Accepted}, probe{"dev", tcp("203.0.113.9", 22), testnet.Dropped})

	// dev starts: dom0 connects it, then writes its list.
	n.connect(work4, dev4)
	n.publish(dev4, allow)
	n.waitHandled(dev4, 1, p)
	n.check(p, probe{"dev", tcp("203.0.113.9", 22), testnet.Accepted})

	// dev stops: dom0 takes it out of /connected-ips, and leaves its list.
	n.connect(work4)
	waitLog(t, p, "10.137.0.7: removed: it left the connected clients")
	// The agent says so before it applies the table without the client.
	waitLog(t, p, "connected clients changed: table applied for 1 client:")
	n.check(p, probe{"dev", tcp("203.0.113.9", 22), testnet.Dropped}, probe{"work", tcp("203.0.113.9", 22), testnet.Accepted})

	// dev starts again.
	n.connect(work4, dev4)
	n.publish(dev4, allow)
	n.waitHandled(dev4, 2, p)
	n.check(p, probe{"dev", tcp("203.0.113.9", 22), testnet.Accepted})
}

// waitLog waits until the agent's log holds line.
func waitLog(t *testing.T, p *agentProc, line string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(p.log(), line) {
		if time.Now().After(deadline) {
			t.Fatalf("after 60s the agent's log lacks %q:\n%s", line, p.log())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAgentFlood: a flood of commits for one client converges on the
// last list, and each commit counts once.
func TestAgentFlood(t *testing.T) {
	n := newAgentNet(t, nftables.Client{Name: "work", Addr4: work4}, nftables.Client{Name: "web", Addr4: web4})
	n.connect(work4, web4)
	n.publish(work4, prefixRule(ir.Accept, "192.0.2.0/24", ir.TCP, 80, 80))
	n.publish(web4, prefixRule(ir.Accept, "192.0.2.0/24", ir.TCP, 443, 443))
	p := n.start()
	n.waitHandled(work4, 1, p)
	const commits = 300
	for i := range commits {
		port := uint16(1000 + i)
		n.publish(work4, prefixRule(ir.Accept, "192.0.2.0/24", ir.TCP, port, port))
	}
	n.waitHandled(work4, 1+commits, p)
	if got := n.handled(work4); got != 1+commits {
		t.Errorf("handled %d times; want %d", got, 1+commits)
	}
	n.check(p,
		probe{"work", tcp("192.0.2.10", 1000+commits-1), testnet.Accepted},
		probe{"work", tcp("192.0.2.10", 1000+commits-2), testnet.Rejected},
		probe{"work", tcp("192.0.2.10", 80), testnet.Rejected},
		probe{"web", tcp("192.0.2.10", 443), testnet.Accepted},
	)
}

// TestAgentLargeList: a client with 10,000 rules, the most dom0 can
// number.
func TestAgentLargeList(t *testing.T) {
	n := newAgentNet(t, nftables.Client{Name: "work", Addr4: work4})
	n.connect(work4)
	rules := make([]ir.Rule, 0, 10000)
	for i := range 9999 {
		// Alternating verdicts, so that no two rules merge into one step.
		a := ir.Accept
		if i%2 == 1 {
			a = ir.Drop
		}
		rules = append(rules, prefixRule(a, fmt.Sprintf("10.0.%d.%d/32", i/250, i%250+1), ir.TCP, uint16(1000+i), uint16(1000+i)))
	}
	rules = append(rules, prefixRule(ir.Accept, "203.0.113.0/24", ir.AnyProto, 0, 0))
	n.publish(work4, rules...)
	p := n.start()
	n.waitHandled(work4, 1, p)
	n.check(p,
		probe{"work", tcp("10.0.0.1", 1000), testnet.Accepted},
		probe{"work", tcp("10.0.0.1", 1001), testnet.Rejected},
		probe{"work", tcp("10.0.0.2", 1001), testnet.Rejected},
		probe{"work", tcp("10.0.39.249", 10998), testnet.Accepted},
		probe{"work", tcp("203.0.113.9", 7), testnet.Accepted},
		probe{"work", tcp("192.0.2.1", 7), testnet.Rejected},
	)
	// One commit of the whole list again, timed.
	start := time.Now()
	n.publish(work4, rules...)
	n.waitHandled(work4, 2, p)
	t.Logf("10,000 rules: commit to handled in %s", time.Since(start))
}

// TestAgentKilled stops and kills the agent at random moments while it
// applies the commits of a client, and starts it again each time with the
// client's list already in QubesDB, with a prober sending packets to a
// destination that every list forbids the whole time: none passes, with
// or without an agent running, since nothing the agent does on its way out
// or in opens the table.
func TestAgentKilled(t *testing.T) {
	n := newAgentNet(t, nftables.Client{Name: "work", Addr4: work4, Addr6: work6})
	n.connect(work4, work6)
	list := func(i int) []ir.Rule {
		port := uint16(1000 + i%50)
		return []ir.Rule{
			prefixRule(ir.Drop, "203.0.113.66/32", ir.AnyProto, 0, 0),
			prefixRule(ir.Drop, "2001:db8::66/128", ir.AnyProto, 0, 0),
			prefixRule(ir.Accept, "203.0.113.0/24", ir.TCP, port, port),
			prefixRule(ir.Accept, "2001:db8::/48", ir.TCP, port, port),
			prefixRule(ir.Accept, "192.0.2.0/24", ir.AnyProto, 0, 0),
		}
	}
	n.publish(work4, list(0)...)
	n.publish(work6, list(0)...)
	p := n.start()
	n.waitHandled(work4, 1, p)
	n.waitHandled(work6, 1, p)

	forbidden := []testnet.Probe{
		tcp("203.0.113.66", 1000), udp("203.0.113.66", 1000),
		tcp("2001:db8::66", 1000), udp("2001:db8::66", 1000),
	}
	var (
		mu     sync.Mutex
		sent   int
		passed []string
		stop   = make(chan struct{})
		wg     sync.WaitGroup
	)
	for _, pr := range forbidden {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				fate, err := n.topo.Clients["work"].Send(pr)
				mu.Lock()
				sent++
				if err == nil && fate == testnet.Accepted {
					passed = append(passed, fmt.Sprintf("%s at %s", pr, time.Now().Format(time.StampMicro)))
				}
				mu.Unlock()
			}
		})
	}

	commit := 1
	const rounds = 12
	for round := range rounds {
		// A few commits, then a signal while the agent handles them.
		for range 3 {
			n.publish(work4, list(commit)...)
			n.publish(work6, list(commit)...)
			commit++
		}
		time.Sleep(time.Duration(round%4) * 7 * time.Millisecond)
		sig := syscall.SIGKILL
		if round%2 == 0 {
			sig = syscall.SIGTERM
		}
		err := p.stop(t, sig)
		if sig == syscall.SIGTERM && err != nil {
			t.Fatalf("the agent ended with %v after SIGTERM; want 0\n%s", err, p.log())
		}
		// A while without an agent: the table stays in force.
		time.Sleep(50 * time.Millisecond)
		before := n.handled(work4)
		p = n.start()
		// Restarted with the clients present, it applies all again.
		n.waitHandled(work4, before+1, p)
	}
	// The last list is the one in force.
	before := n.handled(work4)
	n.publish(work4, list(commit)...)
	n.waitHandled(work4, before+1, p)
	close(stop)
	wg.Wait()
	port := uint16(1000 + commit%50)
	n.check(p,
		probe{"work", tcp("203.0.113.9", port), testnet.Accepted},
		probe{"work", tcp("203.0.113.9", port+1), testnet.Rejected},
	)
	t.Logf("%d forbidden probes over %d rounds of kills and restarts", sent, rounds)
	if len(passed) > 0 || sent < 100 {
		t.Fatalf("%d of %d forbidden probes passed: %s", len(passed), sent, strings.Join(passed, ", "))
	}
}

// nameServer answers A and AAAA queries over UDP from a table that tests
// change, with NXDOMAIN for a name not in it.
type nameServer struct {
	mu    sync.Mutex
	names map[string][]netip.Addr // by lowercase name, without the final dot
}

func (s *nameServer) set(name string, addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if addrs == nil {
		delete(s.names, name)
		return
	}
	s.names[name] = nil
	for _, a := range addrs {
		s.names[name] = append(s.names[name], netip.MustParseAddr(a))
	}
}

// listen serves on 127.0.0.1:53 in ns until the test ends.
func (s *nameServer) listen(t *testing.T, ns *netnstest.NS) {
	t.Helper()
	var pc net.PacketConn
	if err := ns.Do(func() (err error) { pc, err = net.ListenPacket("udp", "127.0.0.1:53"); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if msg, ok := s.answer(buf[:n]); ok {
				pc.WriteTo(msg, from)
			}
		}
	}()
}

func (s *nameServer) answer(query []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	s.mu.Lock()
	addrs, ok := s.names[strings.TrimSuffix(strings.ToLower(q.Name.String()), ".")]
	s.mu.Unlock()
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	if !ok {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.StartQuestions()
	b.Question(q)
	b.StartAnswers()
	for _, a := range addrs {
		hdr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 300}
		switch {
		case q.Type == dnsmessage.TypeA && a.Is4():
			hdr.Type = dnsmessage.TypeA
			b.AResource(hdr, dnsmessage.AResource{A: a.As4()})
		case q.Type == dnsmessage.TypeAAAA && a.Is6():
			hdr.Type = dnsmessage.TypeAAAA
			b.AAAAResource(hdr, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
	}
	msg, err := b.Finish()
	return msg, err == nil
}

// TestAgentNames: host names are resolved with the firewall qube's
// servers, in each family; an allow to a name that does not resolve
// matches nothing and leaves the client's other rules alone; a reload
// looks names up again; a deny to a name that stops resolving keeps its
// last addresses. What each name resolved to is in /dns/<ip>/<name>.
func TestAgentNames(t *testing.T) {
	n := newAgentNet(t, nftables.Client{Name: "work", Addr4: work4, Addr6: work6})
	ns := &nameServer{names: map[string][]netip.Addr{}}
	ns.listen(t, n.topo.FW)
	ns.set("good.example", "192.0.2.20", "2001:db8::20")
	ns.set("deny.example", "198.51.100.20", "2001:db8::21")
	if err := os.WriteFile(filepath.Join(n.dir, "resolv.conf"), []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n.connect(work4, work6)
	list := []ir.Rule{
		{Action: ir.Accept, Match: ir.Match{Dst: ir.Dst{Host: "good.example"}, Proto: ir.TCP, HasPorts: true, Ports: ir.PortRange{First: 443, Last: 443}}},
		{Action: ir.Accept, Match: ir.Match{Dst: ir.Dst{Host: "nxdomain.example"}}},
		{Action: ir.Drop, Match: ir.Match{Dst: ir.Dst{Host: "deny.example"}}},
		prefixRule(ir.Accept, "198.51.100.0/24", ir.TCP, 1, 65535),
		prefixRule(ir.Accept, "2001:db8::/48", ir.TCP, 80, 80),
	}
	n.publish(work4, list...)
	n.publish(work6, list...)
	p := n.startInside()
	n.waitHandled(work4, 1, p)
	n.waitHandled(work6, 1, p)
	rejected, accepted := testnet.Rejected, testnet.Accepted
	n.check(p,
		probe{"work", tcp("192.0.2.20", 443), accepted},
		probe{"work", tcp("192.0.2.21", 443), rejected},
		probe{"work", tcp("2001:db8::20", 443), accepted},
		probe{"work", tcp("198.51.100.20", 80), rejected},
		probe{"work", tcp("198.51.100.21", 80), accepted},
		probe{"work", tcp("2001:db8::21", 80), rejected},
		probe{"work", tcp("2001:db8::22", 80), accepted},
	)
	for path, want := range map[string]string{
		"/dns/10.137.0.5/good.example":            "192.0.2.20",
		"/dns/fd09:24ef:4179::a89:5/good.example": "2001:db8::20",
		"/dns/10.137.0.5/nxdomain.example":        "",
	} {
		if got, ok := n.srv.Read(path); !ok || string(got) != want {
			t.Errorf("%s = %q (%v); want %q", path, got, ok, want)
		}
	}

	// good.example moves, deny.example stops resolving; a reload (as
	// qubes-setup-dnat-to-ns asks when the servers change) looks them up.
	ns.set("good.example", "192.0.2.30", "2001:db8::30")
	ns.set("deny.example")
	before := n.handled(work4)
	p.cmd.Process.Signal(syscall.SIGHUP)
	n.waitHandled(work4, before+1, p)
	n.waitHandled(work6, before+1, p)
	n.check(p,
		probe{"work", tcp("192.0.2.30", 443), accepted},
		probe{"work", tcp("2001:db8::30", 443), accepted},
		probe{"work", tcp("198.51.100.20", 80), rejected},
		probe{"work", tcp("2001:db8::21", 80), rejected},
		probe{"work", tcp("198.51.100.21", 80), accepted},
	)
}

// TestAgentQubesDBReconnects: when QubesDB drops the agent's connection,
// commits made meanwhile may have fired no event; the agent reconnects,
// and reads every list again.
func TestAgentQubesDBReconnects(t *testing.T) {
	n := newAgentNet(t, nftables.Client{Name: "work", Addr4: work4})
	n.connect(work4)
	n.publish(work4, prefixRule(ir.Accept, "192.0.2.0/24", ir.TCP, 80, 80))
	p := n.start()
	n.waitHandled(work4, 1, p)
	n.srv.DropClients()
	n.publish(work4, prefixRule(ir.Accept, "192.0.2.0/24", ir.TCP, 81, 81))
	// Whether its commit came before the agent reconnected, and was lost,
	// or after, the new list comes into force.
	deadline := time.Now().Add(30 * time.Second)
	for {
		fate, err := n.topo.Clients["work"].Send(tcp("192.0.2.10", 81))
		if err == nil && fate == testnet.Accepted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new list is not in force 30s after the commit: %v, %v\n%s", fate, err, p.log())
		}
		time.Sleep(10 * time.Millisecond)
	}
	n.check(p, probe{"work", tcp("192.0.2.10", 80), testnet.Rejected})
	waitLog(t, p, "QubesDB reconnected: table applied for 1 client")
}

// TestAgentServiceLifecycle runs the agent as systemd does, with
// $NOTIFY_SOCKET: READY=1 once the lists are in force; on SIGHUP (a
// reload, as qubes-setup-dnat-to-ns asks when the upstream servers
// change) RELOADING=1 with the monotonic time, a new resolv.conf read,
// the DNS servers that specialtarget=dns matches changed, and READY=1;
// on SIGTERM STOPPING=1, exit 0, and the table still in force.
func TestAgentServiceLifecycle(t *testing.T) {
	n := newAgentNet(t, nftables.Client{Name: "work", Addr4: work4})
	sock := filepath.Join(n.dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// next returns the next datagram but STATUS= ones.
	next := func() string {
		t.Helper()
		buf := make([]byte, 4096)
		for {
			conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			k, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("no notification: %v", err)
			}
			if msg := string(buf[:k]); !strings.HasPrefix(msg, "STATUS=") {
				return msg
			}
		}
	}
	n.connect(work4)
	n.publish(work4, ir.Rule{Action: ir.Accept, Match: ir.Match{DNS: true}})
	cmd := exec.Command("qfw", n.args("--netns", n.topo.FW.File.Name())...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	p := n.run(cmd)
	if msg := next(); msg != "READY=1" {
		t.Fatalf("first notification %q; want READY=1", msg)
	}
	if n.handled(work4) != 1 {
		t.Fatalf("ready before the lists are in force")
	}
	n.check(p,
		probe{"work", udp("10.139.1.1", 53), testnet.Accepted},
		probe{"work", udp("10.139.1.3", 53), testnet.Rejected},
	)

	if err := os.WriteFile(filepath.Join(n.dir, "resolv.conf"), []byte("nameserver 10.139.1.3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	if msg := next(); !strings.HasPrefix(msg, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("notification %q; want RELOADING=1 and MONOTONIC_USEC", msg)
	}
	if msg := next(); msg != "READY=1" {
		t.Fatalf("notification %q; want READY=1", msg)
	}
	n.check(p,
		probe{"work", udp("10.139.1.3", 53), testnet.Accepted},
		probe{"work", udp("10.139.1.1", 53), testnet.Rejected},
	)

	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("the agent ended with %v after SIGTERM; want 0\n%s", err, p.log())
	}
	if msg := next(); msg != "STOPPING=1" {
		t.Fatalf("notification %q; want STOPPING=1", msg)
	}
	n.check(p,
		probe{"work", udp("10.139.1.3", 53), testnet.Accepted},
		probe{"work", udp("10.139.1.1", 53), testnet.Rejected},
		probe{"work", tcp("192.0.2.1", 80), testnet.Rejected},
	)
	out, err := exec.Command("qfw", "agent", "status", "--status-file", n.status).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "agent stopped, status of ") {
		t.Errorf("qfw agent status: %v\n%s", err, out)
	}
}

// TestAgentPurges: a flow that a commit forbids ends, so that its next
// packet is judged by the new list, not let through as part of a known
// connection; a flow still allowed goes on.
func TestAgentPurges(t *testing.T) {
	n := newAgentNet(t, nftables.Client{Name: "work", Addr4: work4})
	n.connect(work4)
	n.publish(work4, prefixRule(ir.Accept, "198.51.100.0/24", ir.UDP, 1000, 2000))
	p := n.start()
	n.waitHandled(work4, 1, p)
	// dial opens a UDP socket in the client's namespace.
	dial := func(dst string) net.Conn {
		var c net.Conn
		if err := n.topo.Clients["work"].NS.Do(func() (err error) { c, err = net.Dial("udp", dst); return err }); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// echoed reports whether a datagram on c comes back.
	echoed := func(c net.Conn) bool {
		if _, err := c.Write([]byte("qfw")); err != nil {
			return false
		}
		c.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
		_, err := c.Read(make([]byte, 16))
		return err == nil
	}
	denied, allowed := dial("198.51.100.8:1500"), dial("198.51.100.9:1500")
	if !echoed(denied) || !echoed(allowed) {
		t.Fatalf("the flows do not pass before the change\n%s", p.log())
	}
	n.publish(work4,
		prefixRule(ir.Drop, "198.51.100.8/32", ir.AnyProto, 0, 0),
		prefixRule(ir.Accept, "198.51.100.0/24", ir.UDP, 1000, 2000))
	n.waitHandled(work4, 2, p)
	if echoed(denied) {
		t.Errorf("a flow the new list forbids goes on\n%s", p.log())
	}
	if !echoed(allowed) {
		t.Errorf("a flow the new list allows is cut\n%s", p.log())
	}
}

// TestAgentOnce: --once applies what QubesDB holds, counts it handled,
// and exits, leaving the table in force.
func TestAgentOnce(t *testing.T) {
	n := newAgentNet(t, nftables.Client{Name: "work", Addr4: work4})
	n.connect(work4)
	n.publish(work4, prefixRule(ir.Accept, "192.0.2.0/24", ir.TCP, 80, 80))
	cmd := exec.Command("qfw", "agent", "--once",
		"--qubesdb", n.srv.Path(),
		"--netns", n.topo.FW.File.Name(),
		"--resolv-conf", filepath.Join(n.dir, "resolv.conf"),
		"--status-file", n.status)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("qfw agent --once: %v\n%s", err, out)
	}
	if got, want := string(out), "qfw agent: once: table applied for 1 client: added c4-10-137-0-5, forward, guard, postrouting, prerouting; 0 chains unchanged\n"; got != want {
		t.Errorf("qfw agent --once printed\n%s\nwant\n%s", got, want)
	}
	if n.handled(work4) != 1 {
		t.Errorf("handled %d times; want 1", n.handled(work4))
	}
	n.check(&agentProc{stderr: &lockedBuffer{}},
		probe{"work", tcp("192.0.2.10", 80), testnet.Accepted},
		probe{"work", tcp("192.0.2.10", 81), testnet.Rejected},
	)
	out, err = exec.Command("qfw", "agent", "status", "--status-file", n.status).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "agent stopped, status of ") {
		t.Errorf("qfw agent status: %v\n%s", err, out)
	}
}
