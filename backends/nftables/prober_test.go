package nftables_test

import (
	"bufio"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/backends/nftables"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/internal/testnet"
)

// The test binary doubles as a qfw apply of one of the prober's lists, in
// a process of its own that the test may kill or race with another.
const (
	applyNetns = "QFW_TEST_APPLY_NETNS"
	applyList  = "QFW_TEST_APPLY_LIST"
	// applyStall makes the process stop between the apply and the purge,
	// after saying so on its standard output, to be killed there.
	applyStall = "QFW_TEST_APPLY_STALL"
)

func TestMain(m *testing.M) {
	if ns := os.Getenv(applyNetns); ns != "" {
		os.Exit(applyMain(ns, os.Getenv(applyList)))
	}
	os.Exit(m.Run())
}

// applyMain applies list (a prober list, or deny: work denied all) in
// the namespace at path and purges, as qfw apply does, and says how it
// went as qfw would: exit 0 only if the kernel holds what it applied.
func applyMain(path, list string) int {
	ns, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	clients := work()
	if list != "deny" {
		clients = proberList(list)
	}
	table, _ := nftables.Lower(clients, nftables.Options{})
	if _, err := nftables.Apply(table, ns); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if os.Getenv(applyStall) != "" {
		fmt.Println("applied")
		select {}
	}
	if _, err := nftables.Purge(clients, nftables.Options{}, ns); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// The prober's client has two lists, a and b, which allow different
// things and deny both forbidden destinations (in each family, TCP port 22
// and UDP port 5000 at one address), each by a port rule followed by a
// rule that accepts the rest: a moment in which the kernel has the accept
// in force and not the deny shows as a pass. List a is large, so that an
// apply takes a while and its commit holds many changes.
var (
	forbidden = []testnet.Probe{
		{Proto: "tcp", Dst: netip.MustParseAddr("203.0.113.5"), Port: 22},
		{Proto: "udp", Dst: netip.MustParseAddr("203.0.113.5"), Port: 5000},
		{Proto: "tcp", Dst: netip.MustParseAddr("2001:db8::5"), Port: 22},
		{Proto: "udp", Dst: netip.MustParseAddr("2001:db8::5"), Port: 5000},
	}
	// allowedByA passes under list a: it shows that the prober sees a
	// probe that passes.
	allowedByA = testnet.Probe{Proto: "tcp", Dst: netip.MustParseAddr("192.0.2.1"), Port: 443}
)

func proberList(name string) []nftables.Client {
	rule := func(a ir.Action, prefix string, proto ir.Proto, first, last uint16) ir.Rule {
		m := ir.Match{Dst: ir.Dst{Prefix: netip.MustParsePrefix(prefix)}, Proto: proto}
		if proto == ir.TCP || proto == ir.UDP {
			m.HasPorts, m.Ports = true, ir.PortRange{First: first, Last: last}
		}
		return ir.Rule{Action: a, Match: m}
	}
	var r4, r6 []ir.Rule
	switch name {
	case "a", "a2":
		for i := range 1000 {
			// Alternating verdicts to addresses of their own: many
			// elements in a few sets.
			a := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
			r4 = append(r4, rule(ir.Accept, netip.PrefixFrom(a, 32).String(), ir.TCP, uint16(1000+i), uint16(1000+i)))
			r4 = append(r4, rule(ir.Drop, netip.PrefixFrom(a.Next(), 32).String(), ir.UDP, 53, 53))
		}
		r4 = append(r4,
			rule(ir.Drop, "203.0.113.0/24", ir.TCP, 22, 22), rule(ir.Drop, "203.0.113.0/24", ir.UDP, 5000, 5000),
			ir.Rule{Action: ir.Accept})
		r6 = append(r6,
			rule(ir.Drop, "2001:db8::/64", ir.TCP, 22, 22), rule(ir.Drop, "2001:db8::/64", ir.UDP, 5000, 5000),
			ir.Rule{Action: ir.Accept})
		if name == "a2" {
			// List a with one port moved: a client update changes one
			// element of a port set of 1,000.
			r4[0].Ports = ir.PortRange{First: 65000, Last: 65000}
		}
	case "b":
		r4 = append(r4,
			rule(ir.Drop, "203.0.113.5/32", ir.TCP, 20, 23), rule(ir.Drop, "203.0.113.0/28", ir.UDP, 5000, 5001),
			rule(ir.Accept, "128.0.0.0/1", ir.AnyProto, 0, 0), ir.Rule{Action: ir.Drop})
		r6 = append(r6,
			rule(ir.Drop, "2001:db8::5/128", ir.TCP, 22, 22), rule(ir.Drop, "2001:db8::5/128", ir.UDP, 4000, 6000),
			rule(ir.Accept, "2001:db8::/32", ir.AnyProto, 0, 0), ir.Rule{Action: ir.Drop})
	default:
		panic("no prober list " + name)
	}
	return []nftables.Client{{
		Name: "work", Addr4: netip.MustParseAddr("10.137.0.11"), Addr6: netip.MustParseAddr("fd09:24ef:4179::a89:b"),
		Rules4: r4, Rules6: r6,
	}}
}

// TestApplyNeverOpens sends forbidden probes from a client without pause,
// and any probe from a client that no list names, while qfw's table is
// applied over and over: changed and unchanged, in
// this process and in processes killed at random moments, and two at
// once. No probe may pass: at every moment the kernel holds one list or
// the other (or a lockdown), never nothing, and none of them allows them.
// Every apply that reports success must leave the table it applied.
func TestApplyNeverOpens(t *testing.T) {
	// A stranger is a client of the firewall that no list names: the
	// forward chain's policy drops all it sends, silently.
	stranger := nftables.Client{Name: "stranger", Addr4: netip.MustParseAddr("10.137.0.12")}
	topo := testnet.New(t, append(proberList("a"), stranger))
	c := topo.Clients["work"]
	ns := topo.FW.File
	path := "/run/netns/" + topo.FW.Name
	tables := map[string]*nftables.Table{}
	for _, name := range []string{"a", "a2", "b"} {
		tables[name], _ = nftables.Lower(proberList(name), nftables.Options{})
	}
	enforce(t, ns, proberList("a"))
	if f, err := c.Send(allowedByA); err != nil || f != testnet.Accepted {
		t.Fatalf("%s under list a: %v, %v; want accepted, or the prober could not see a pass", allowedByA, f, err)
	}
	for _, p := range forbidden {
		if f, err := c.Send(p); err != nil || f != testnet.Rejected {
			t.Fatalf("%s under list a: %v, %v; want rejected", p, f, err)
		}
	}

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	process := func(list string) *exec.Cmd {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), applyNetns+"="+path, applyList+"="+list)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		return cmd
	}
	// holds reports which list the kernel holds, if either.
	holds := func() string {
		s, err := nftables.Read(ns)
		if err != nil {
			t.Fatal(err)
		}
		for name, table := range tables {
			if s.Equal(table.State()) {
				return name
			}
		}
		return ""
	}

	strangers := []testnet.Probe{forbidden[0], forbidden[1], allowedByA}
	for _, p := range strangers {
		if f, err := topo.Clients["stranger"].Send(p); err != nil || f != testnet.Dropped {
			t.Fatalf("%s from the stranger: %v, %v; want dropped", p, f, err)
		}
	}

	prober := c.StartProber(forbidden, 1, 300*time.Millisecond)
	t.Cleanup(func() { prober.Stop() })
	// An answer comes within microseconds here: a probe that passed is not
	// missed for a wait that short, and the drops come back soon.
	strangerProber := topo.Clients["stranger"].StartProber(strangers, 3, 50*time.Millisecond)
	t.Cleanup(func() { strangerProber.Stop() })
	start := time.Now()
	var applies, updates, texts, kills, stalled, completed, races int
	lists := []string{"a", "b"}

	// In this process: changing, and unchanged every third time; of every
	// five, one as a client update and one as nft text, which leaves the
	// sets of the other list behind, unused, so that only the chains tell
	// which list is in force.
	last := "a"
	for i := range 90 {
		if i%3 != 2 {
			last = lists[i%2]
		}
		if i%5 == 3 {
			topo.FW.Exec(t, tables[last].Text(), "nft", "-f", "-")
			if _, err := nftables.Purge(proberList(last), nftables.Options{}, ns); err != nil {
				t.Fatal(err)
			}
			s, err := nftables.Read(ns)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(s.Chains, tables[last].State().Chains) {
				t.Fatalf("after nft -f of list %s, the kernel holds chains %v", last, s.Chains)
			}
			texts++
			continue
		}
		if i%5 == 1 {
			// Through UpdateClient, as qfw apply --qube does; list a by
			// way of a2, each changed element by element, and from a2
			// to a only its sets' elements and digests, as the agent
			// does when a commit changes no more.
			update := func() error {
				_, err := nftables.UpdateClient(tables[last], "work", ns)
				return err
			}
			if last == "a" {
				if _, err := nftables.UpdateClient(tables["a2"], "work", ns); err != nil {
					t.Fatal(err)
				}
				if got := holds(); got != "a2" {
					t.Fatalf("after updating to list a2, the kernel holds %q", got)
				}
				updates++
				update = func() error {
					_, err := nftables.UpdateClientElements(tables["a2"], tables["a"], "work", ns)
					return err
				}
			}
			if err := update(); err != nil {
				t.Fatal(err)
			}
			if _, err := nftables.Purge(proberList(last), nftables.Options{}, ns); err != nil {
				t.Fatal(err)
			}
			updates++
		} else {
			enforce(t, ns, proberList(last))
			applies++
		}
		if got := holds(); got != last {
			t.Fatalf("after applying list %s, the kernel holds %q", last, got)
		}
	}

	// In processes killed at a random moment, each followed by an apply
	// here that must succeed: a killed apply leaves no lock behind, and
	// the table is whole, old or new.
	for i := range 40 {
		cmd := process(lists[i%2])
		if i%4 == 0 {
			// Between the commit and the purge.
			cmd.Env = append(cmd.Env, applyStall+"=1")
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if line, err := bufio.NewReader(out).ReadString('\n'); line != "applied\n" {
				t.Fatalf("apply of list %s said %q, %v; want applied", lists[i%2], line, err)
			}
			stalled++
		} else {
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Duration(rand.IntN(50)) * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			kills++
		} else if err != nil {
			t.Fatalf("apply of list %s: %v\n%s", lists[i%2], err, cmd.Stderr)
		} else {
			completed++
		}
		if got := holds(); got == "" {
			t.Fatalf("after a kill, the kernel holds neither list")
		}
		next := lists[(i+1)%2]
		enforce(t, ns, proberList(next))
		applies++
	}

	// Two at once, each in a process of its own: both succeed, one after
	// the other, and the kernel ends with one of their lists.
	for i := range 25 {
		pair := [2]*exec.Cmd{process("a"), process("b")}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for k, cmd := range pair {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[k] = cmd.Run()
			}()
		}
		wg.Wait()
		for k, err := range errs {
			if err != nil {
				t.Fatalf("race %d: apply of list %s: %v\n%s", i, lists[k], err, pair[k].Stderr)
			}
		}
		if got := holds(); got == "" {
			t.Fatalf("race %d: both applies succeeded, and the kernel holds neither list", i)
		}
		races++
	}

	counts, err := prober.Stop()
	if err != nil {
		t.Fatal(err)
	}
	strangerCounts, err := strangerProber.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d forbidden probes (%d rejected, %d dropped, %d passed) in %s, during: %d applies here (and %d client updates, %d as nft text), %d applies in processes killed at random moments (%d of them between commit and purge, %d finished first), %d races of two applies",
		counts.Sent, counts.Rejected, counts.Dropped, counts.Passed, time.Since(start).Round(time.Millisecond),
		applies, updates, texts, kills+completed, stalled, completed, races)
	t.Logf("%d probes from the stranger (%d dropped, %d rejected, %d passed)",
		strangerCounts.Sent, strangerCounts.Dropped, strangerCounts.Rejected, strangerCounts.Passed)
	if counts.Passed > 0 {
		t.Errorf("%d forbidden probes passed:\n%s", counts.Passed, strings.Join(counts.Passes, "\n"))
	}
	if strangerCounts.Passed > 0 {
		t.Errorf("%d probes from the stranger passed:\n%s", strangerCounts.Passed, strings.Join(strangerCounts.Passes, "\n"))
	}
	if counts.Sent < 5000 || strangerCounts.Sent < 500 {
		t.Errorf("only %d probes and %d from the stranger sent; too few to show a window", counts.Sent, strangerCounts.Sent)
	}
}
