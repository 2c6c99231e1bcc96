//go:build qfwagent

// The benchmarks of `qfw agent` itself. They build only with the qfwagent
// tag, and need the agent command and the QubesDB test server; agent.sh
// turns them on when both are in the tree and gives them the binary:
//
//	go test -c -tags qfwagent ./bench/agentbench
//	./agentbench.test -test.bench BenchmarkCommit -qfw PATH

package agentbench

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/backends/nftables"
	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/backends/qubesdb/qubesdbtest"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/internal/netnstest"
	"github.com/qfw-dev/qfw/internal/testnet"
)

var qfwBin = flag.String("qfw", "", "the qfw binary whose agent the benchmarks run")

// enforceTimeout is how long a list may take to be enforced before a
// benchmark gives up.
const enforceTimeout = 60 * time.Second

// probeTimeout bounds one connection attempt of the probe: far longer
// than a connection through the firewall takes in the test network, even
// on a busy machine, and short enough that the probe sees a list in force
// within a few milliseconds.
const probeTimeout = 10 * time.Millisecond

// shapes are the firewall qubes of the commit benchmark: clients x rules.
var shapes = []struct {
	name           string
	clients, rules int
}{{"1x10", 1, 10}, {"1x10000", 1, 10000}, {"100x100", 100, 100}}

// BenchmarkCommit times commit-to-enforced: from dom0's commit write for
// the first client (after its rules are written) to the first connection
// that the client's new list decides, and reports the median (commit-ms).
// Each commit moves the list's last rule, the only one the probe can
// match, between port 80 and port 81, so the probe is rejected until the
// new list is in force; then the old port must be rejected.
//
//   - qfw: `qfw agent` reads the commit from QubesDB and applies it; the
//     next commit waits until the agent has counted this one in
//     /qubes-firewall-handled/<ip>, as dom0's tools wait, so that it is
//     not timed behind this one's read-back and purge;
//   - stock: the floor of the stock agent's handling of the same commit:
//     building its transaction (Rules) and nft -f of it, without the
//     agent's Python (reading QubesDB, parsing).
//
// Only the first client has a namespace to probe from; the others exist in
// QubesDB and in the ruleset, which is what the agent's work depends on.
func BenchmarkCommit(b *testing.B) {
	for _, who := range []string{"qfw", "stock"} {
		for _, s := range shapes {
			b.Run(who+"/"+s.name, func(b *testing.B) {
				clients := Clients(s.clients, s.rules)
				topo := testnet.New(b, clients[:1])
				probe := topo.Clients[clients[0].Name]
				// commit makes list the first client's and returns when
				// the commit began.
				var commit func(list []ir.Rule) time.Time
				// done waits until the agent has finished with k+1
				// commits since the first lists: nothing to wait for on
				// the stock side, whose nft -f returns when it is done.
				done := func(k int) error { return nil }
				var agent *agentProc
				var srv *qubesdbtest.Server
				if who == "qfw" {
					srv = dom0(b, clients)
					agent = startAgent(b, srv, topo.FW)
					commit = func(list []ir.Rule) time.Time {
						ops := qubes.Entries(clients[0].Addr4, list, 0)
						publish(b, srv, ops[:len(ops)-1])
						t0 := time.Now()
						publish(b, srv, ops[len(ops)-1:])
						return t0
					}
				} else {
					startStock(b, topo.FW, clients, stockConfig)
					commit = func(list []ir.Rule) time.Time {
						t0 := time.Now()
						text, err := Rules(Target{Addr: clients[0].Addr4, Entries: Written(clients[0].Addr4, list)}, stockConfig)
						if err != nil {
							b.Fatal(err)
						}
						if err := nft(topo.FW, text); err != nil {
							b.Fatal(err)
						}
						return t0
					}
				}
				var exited chan struct{}
				if agent != nil {
					exited = agent.exited
				}
				if err := waitEnforced(probe, enforceTimeout, exited); err != nil {
					b.Fatalf("the first lists are not enforced: %v", err)
				}
				if agent != nil {
					// Let it finish the other clients first, where it says
					// when it has; a missing READY=1 is the reload
					// benchmark's to report.
					agent.waitState("READY=1", 10*time.Second)
					done = handledWaiter(srv, clients[0].Addr4)
				}
				list := clients[0].Rules4
				var latencies []float64
				b.ResetTimer()
				for k := range b.N {
					port := uint16(81 - k%2)
					list[len(list)-1] = Allow(netip.AddrPortFrom(Dst, port))
					t0 := commit(list)
					if err := waitAccepted(probe, port, enforceTimeout, exited); err != nil {
						b.Fatalf("commit %d: %v", k, err)
					}
					latencies = append(latencies, ms(time.Since(t0)))
					if err := rejected(probe, 161-port); err != nil {
						b.Fatalf("commit %d: %v", k, err)
					}
					if err := done(k); err != nil {
						b.Fatalf("commit %d: %v", k, err)
					}
				}
				b.ReportMetric(median(latencies), "commit-ms")
			})
		}
	}
}

// BenchmarkAgentReload times a full reload of `qfw agent` with 100
// clients x 100 rules: from SIGHUP to its READY=1 after RELOADING=1 (the
// systemd notify-reload protocol), reported as the median (reload-ms).
// It reports the agent's resident memory once its first apply is done and
// it is idle (idle-RSS-MiB), and its peak during the reloads
// (reload-peak-RSS-MiB).
func BenchmarkAgentReload(b *testing.B) {
	clients := Clients(100, 100)
	topo := testnet.New(b, clients[:1])
	srv := dom0(b, clients)
	agent := startAgent(b, srv, topo.FW)
	if err := agent.waitState("READY=1", enforceTimeout); err != nil {
		b.Fatalf("after start: %v", err)
	}
	if err := waitEnforced(topo.Clients[clients[0].Name], enforceTimeout, agent.exited); err != nil {
		b.Fatalf("the lists are not enforced: %v", err)
	}
	time.Sleep(time.Second)
	idle, err := memory(agent.cmd.Process.Pid, "VmRSS")
	if err != nil {
		b.Fatal(err)
	}
	// Writing 5 to clear_refs resets the peak resident memory (VmHWM).
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", agent.cmd.Process.Pid), []byte("5"), 0); err != nil {
		b.Fatal(err)
	}
	var reloads []float64
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if err := agent.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			b.Fatal(err)
		}
		if err := agent.waitState("RELOADING=1", enforceTimeout); err != nil {
			b.Fatalf("after SIGHUP: %v", err)
		}
		if err := agent.waitState("READY=1", enforceTimeout); err != nil {
			b.Fatalf("after RELOADING=1: %v", err)
		}
		reloads = append(reloads, ms(time.Since(t0)))
	}
	b.StopTimer()
	peak, err := memory(agent.cmd.Process.Pid, "VmHWM")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(median(reloads), "reload-ms")
	b.ReportMetric(idle, "idle-RSS-MiB")
	b.ReportMetric(peak, "reload-peak-RSS-MiB")
}

// dom0 returns a QubesDB server holding what dom0 writes into a firewall
// qube for clients: /connected-ips and every client's list.
func dom0(b *testing.B, clients []nftables.Client) *qubesdbtest.Server {
	srv, err := qubesdbtest.NewServer(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	addrs := make([]string, len(clients))
	for i, c := range clients {
		addrs[i] = c.Addr4.String()
	}
	publish(b, srv, []qubes.Entry{
		{Op: qubes.Write, Path: "/connected-ips", Value: strings.Join(addrs, " ")},
		{Op: qubes.Write, Path: "/connected-ips6"},
	})
	for _, c := range clients {
		publish(b, srv, qubes.Entries(c.Addr4, c.Rules4, 0))
	}
	return srv
}

// handledWaiter returns a function that waits until the agent has counted
// k+1 more commits of addr in /qubes-firewall-handled/<addr> than it had
// when handledWaiter was called: done with them, after their lists came
// into force (reading them back, ending the connections they forbid), as
// dom0's tools wait for. Each commit is timed from an agent that is done
// with the one before, as the stock floor is.
func handledWaiter(srv *qubesdbtest.Server, addr netip.Addr) func(k int) error {
	path := "/qubes-firewall-handled/" + addr.String()
	count := func() int {
		v, _ := srv.Read(path)
		n, _ := strconv.Atoi(string(v))
		return n
	}
	base := count()
	return func(k int) error {
		deadline := time.Now().Add(enforceTimeout)
		for count() < base+k+1 {
			if time.Now().After(deadline) {
				return fmt.Errorf("%s is %d after %v; want %d", path, count(), enforceTimeout, base+k+1)
			}
			time.Sleep(time.Millisecond)
		}
		return nil
	}
}

// publish performs dom0's QubesDB operations on srv, in order.
func publish(b *testing.B, srv *qubesdbtest.Server, ops []qubes.Entry) {
	for _, e := range ops {
		if e.Op == qubes.Remove {
			srv.Rm(e.Path)
			continue
		}
		if err := srv.Write(e.Path, []byte(e.Value)); err != nil {
			b.Fatalf("write %s: %v", e.Path, err)
		}
	}
}

// agentProc is a running `qfw agent` and what it notifies systemd of.
type agentProc struct {
	cmd    *exec.Cmd
	states chan string
	stderr *bytes.Buffer
	// exited is closed when the agent has exited.
	exited chan struct{}
}

// startAgent starts `qfw agent` on srv's socket, applying to fw, with a
// notify socket of its own; it is stopped when the benchmark ends.
func startAgent(b *testing.B, srv *qubesdbtest.Server, fw *netnstest.NS) *agentProc {
	if *qfwBin == "" {
		b.Fatal("the agent benchmarks need -qfw PATH, the qfw binary to run")
	}
	sock := filepath.Join(b.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		b.Fatal(err)
	}
	a := &agentProc{states: make(chan string, 1024), stderr: &bytes.Buffer{}, exited: make(chan struct{})}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(a.states)
				return
			}
			for _, kv := range strings.Split(strings.TrimSpace(string(buf[:n])), "\n") {
				a.states <- kv
			}
		}
	}()
	a.cmd = exec.Command(*qfwBin, agentArgs(b, srv.Path(), fw)...)
	a.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	a.cmd.Stdout, a.cmd.Stderr = a.stderr, a.stderr
	if err := a.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { a.cmd.Wait(); close(a.exited) }()
	b.Cleanup(func() {
		a.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-a.exited:
		case <-time.After(10 * time.Second):
			a.cmd.Process.Kill()
			<-a.exited
		}
		conn.Close()
		if b.Failed() {
			b.Logf("qfw agent's output:\n%s", a.stderr)
		}
	})
	return a
}

// agentArgs returns the arguments that run `qfw agent` on the QubesDB
// socket sock, applying to fw. Beside the flags every agent has, it passes
// those of the flags below that this agent lists in its help, so that it
// keeps to files of the benchmark's own: the firewall qube's resolvers
// are Qubes' virtual DNS servers, as in the stock agent's ruleset; its
// status file is the benchmark's; no user hooks run.
func agentArgs(b *testing.B, sock string, fw *netnstest.NS) []string {
	args := []string{"agent", "--qubesdb", sock, "--netns", "/run/netns/" + fw.Name}
	help, err := exec.Command(*qfwBin, "agent", "--help").CombinedOutput()
	if err != nil {
		b.Fatalf("%s agent --help: %v\n%s", *qfwBin, err, help)
	}
	dir := b.TempDir()
	resolv := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 10.139.1.1\nnameserver 10.139.1.2\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	hooks := filepath.Join(dir, "hooks")
	if err := os.Mkdir(hooks, 0o755); err != nil {
		b.Fatal(err)
	}
	for _, f := range []struct{ flag, value string }{
		{"--resolv-conf", resolv},
		{"--status-file", filepath.Join(dir, "status")},
		{"--hooks-root", hooks},
	} {
		if bytes.Contains(help, []byte(f.flag+" ")) {
			args = append(args, f.flag, f.value)
		}
	}
	return args
}

// waitState waits for the agent to notify state (such as READY=1).
func (a *agentProc) waitState(state string, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		select {
		case s, ok := <-a.states:
			if !ok {
				return errors.New("the notify socket closed")
			}
			if s == state {
				return nil
			}
		case <-a.exited:
			return fmt.Errorf("the agent exited (%v) before notifying %s", a.cmd.ProcessState, state)
		case <-deadline:
			return fmt.Errorf("no %s from the agent in %v (is it wired to $NOTIFY_SOCKET?)", state, timeout)
		}
	}
}

// waitAccepted opens TCP connections from c to Dst:port until one is
// accepted, and fails after timeout or once exited is closed (nil: never).
//
// Each attempt gives up after probeTimeout: qfw's guard chain drops the
// clients' new packets while a commit is under way, and a SYN it drops is
// sent again only after a second; a fresh connection a few milliseconds
// later sees the new list as soon as it is in force.
func waitAccepted(c *testnet.Client, port uint16, timeout time.Duration, exited <-chan struct{}) error {
	return c.NS.Do(func() error {
		dst := netip.AddrPortFrom(Dst, port).String()
		d := net.Dialer{Timeout: probeTimeout}
		deadline := time.Now().Add(timeout)
		for {
			conn, err := d.Dial("tcp", dst)
			if err == nil {
				conn.(*net.TCPConn).SetLinger(0)
				return conn.Close()
			}
			select {
			case <-exited:
				return fmt.Errorf("the agent exited before a connection to %s was accepted", dst)
			default:
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("no connection to %s accepted in %v: %w", dst, timeout, err)
			}
		}
	})
}

// waitEnforced waits until the first lists are in force for c: until
// Dst:81 is rejected (before anything is applied, everything passes), then
// Dst:80 accepted. It fails after timeout or once exited is closed.
func waitEnforced(c *testnet.Client, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	for {
		err := rejected(c, 81)
		if err == nil {
			return waitAccepted(c, 80, time.Until(deadline), exited)
		}
		select {
		case <-exited:
			return fmt.Errorf("the agent exited: %w", err)
		default:
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rejected checks that the firewall rejects a TCP connection from c to
// Dst:port.
func rejected(c *testnet.Client, port uint16) error {
	p := testnet.Probe{Proto: "tcp", Dst: Dst, Port: port}
	switch fate, err := c.Send(p); {
	case err != nil:
		return fmt.Errorf("%v: %w", p, err)
	case fate != testnet.Rejected:
		return fmt.Errorf("%v %v, want rejected", p, fate)
	}
	return nil
}

// memory returns a memory figure of process pid from /proc, in MiB.
func memory(pid int, field string) (float64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
