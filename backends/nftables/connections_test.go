package nftables_test

import (
	"bufio"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"

	"github.com/qfw-dev/qfw/backends/nftables"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/internal/testnet"
)

// The tests of connections across applies: what the purge ends, what it
// keeps, and that nothing from outside brings back what it ended. The
// peer is a socket of the test's own in the net namespace.

var (
	peer    = netip.MustParseAddr("203.0.113.9")
	client4 = netip.MustParseAddr("10.137.0.11")
)

// allowTCP and allowUDP accept one port to the peer.
func allowTCP(port uint16) ir.Rule {
	return ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: ir.Dst{Prefix: netip.PrefixFrom(peer, 32)}, Proto: ir.TCP, HasPorts: true, Ports: ir.PortRange{First: port, Last: port}}}
}

func allowUDP(port uint16) ir.Rule {
	return ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: ir.Dst{Prefix: netip.PrefixFrom(peer, 32)}, Proto: ir.UDP, HasPorts: true, Ports: ir.PortRange{First: port, Last: port}}}
}

// enforce does what qfw apply --target nftables does: apply the table of
// clients, then purge.
func enforce(t testing.TB, netns *os.File, clients []nftables.Client) {
	t.Helper()
	table, _ := nftables.Lower(clients, nftables.Options{})
	if _, err := nftables.Apply(table, netns); err != nil {
		t.Fatal(err)
	}
	if _, err := nftables.Purge(clients, nftables.Options{}, netns); err != nil {
		t.Fatal(err)
	}
}

// work is the client work with rules then drop.
func work(rules ...ir.Rule) []nftables.Client {
	return []nftables.Client{{Name: "work", Addr4: client4, Rules4: append(rules, ir.Rule{Action: ir.Drop})}}
}

// dialFrom opens a TCP connection from the client to the peer.
func dialFrom(t *testing.T, c *testnet.Client, l net.Listener, port uint16) (client, server net.Conn) {
	t.Helper()
	err := c.NS.Do(func() (err error) {
		client, err = net.DialTimeout("tcp", netip.AddrPortFrom(peer, port).String(), time.Second)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if server, err = l.Accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

// udpFrom opens a UDP socket in the client bound to port.
func udpFrom(t *testing.T, c *testnet.Client, port uint16) *net.UDPConn {
	t.Helper()
	var u *net.UDPConn
	err := c.NS.Do(func() (err error) {
		u, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(client4, port)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// arrives reports whether a message comes in on c within a second.
func arrives(t *testing.T, c interface {
	Read([]byte) (int, error)
	SetReadDeadline(time.Time) error
}) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(time.Second))
	_, err := c.Read(make([]byte, 64))
	var ne net.Error
	switch {
	case err == nil:
		return true
	case errors.As(err, &ne) && ne.Timeout():
		return false
	case errors.Is(err, net.ErrClosed):
		t.Fatal(err)
	}
	// A reject the socket was told of: nothing arrived.
	return false
}

// send sends msg from u to the peer's port, and reports whether the peer
// got it. The peer answers, so that conntrack sees the flow both ways: an
// established flow, whose packets the forward chain lets through.
func send(t *testing.T, u *net.UDPConn, p net.PacketConn, port uint16, msg string) bool {
	t.Helper()
	if _, err := u.WriteToUDPAddrPort([]byte(msg), netip.AddrPortFrom(peer, port)); err != nil {
		t.Fatal(err)
	}
	p.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 64)
	n, from, err := p.ReadFrom(buf)
	if err != nil || string(buf[:n]) != msg {
		return false
	}
	if _, err := p.WriteTo([]byte("echo "+msg), from); err != nil {
		t.Fatal(err)
	}
	if !arrives(t, u) {
		t.Fatalf("the peer's answer to %q did not reach the client", msg)
	}
	return true
}

// TestPurgeEndsDeniedKeepsAllowed opens two TCP connections under a list
// that allows both, and applies one that allows one of them: that one goes
// on, the other is cut.
func TestPurgeEndsDeniedKeepsAllowed(t *testing.T) {
	topo := testnet.New(t, work())
	c := topo.Clients["work"]
	enforce(t, topo.FW.File, work(allowTCP(9003), allowTCP(9004)))
	var cut, kept [2]net.Conn
	cut[0], cut[1] = dialFrom(t, c, topo.Listen(t, "tcp", netip.AddrPortFrom(peer, 9003)).(net.Listener), 9003)
	kept[0], kept[1] = dialFrom(t, c, topo.Listen(t, "tcp", netip.AddrPortFrom(peer, 9004)).(net.Listener), 9004)

	enforce(t, topo.FW.File, work(allowTCP(9004)))
	for _, conn := range [][2]net.Conn{cut, kept} {
		if _, err := conn[0].Write([]byte("from the client")); err != nil {
			t.Fatal(err)
		}
	}
	if arrives(t, cut[1]) {
		t.Error("the connection to port 9003, which the new list denies, still carries the client's data")
	}
	if !arrives(t, kept[1]) {
		t.Error("the connection to port 9004, which the new list allows, no longer carries the client's data")
	}
	if _, err := kept[1].Write([]byte("back")); err != nil {
		t.Fatal(err)
	}
	if !arrives(t, kept[0]) {
		t.Error("the connection to port 9004 no longer carries the peer's data")
	}
}

// TestPurgedTCPStaysEnded ends a TCP connection by a purge and has the
// peer go on sending on it: conntrack would take its segment up as a
// connection it missed, the client would answer, and the connection would
// be back, unjudged. The forward chain drops the peer's segment, and the
// client's next one meets its list.
func TestPurgedTCPStaysEnded(t *testing.T) {
	topo := testnet.New(t, work())
	c := topo.Clients["work"]
	enforce(t, topo.FW.File, work(allowTCP(9005)))
	client, server := dialFrom(t, c, topo.Listen(t, "tcp", netip.AddrPortFrom(peer, 9005)).(net.Listener), 9005)

	enforce(t, topo.FW.File, work())
	if _, err := server.Write([]byte("late")); err != nil {
		t.Fatal(err)
	}
	if arrives(t, client) {
		t.Error("the peer's segment on a purged connection reached the client")
	}
	if _, err := client.Write([]byte("out")); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Logf("client write: %v", err)
	}
	if arrives(t, server) {
		t.Error("the client's segment on a purged connection reached the peer")
	}
	if n := flowsTo(t, topo, 9005); n != 0 {
		t.Errorf("%d connections to port 9005 tracked after the purge; want none", n)
	}
}

// TestPurgedUDPStaysEnded ends a UDP flow by a purge and has the peer
// send to the client's port again: that makes a flow from outside, whose
// answers from the client are judged by its list, which denies them; and
// the next purge ends that flow.
func TestPurgedUDPStaysEnded(t *testing.T) {
	topo := testnet.New(t, work())
	c := topo.Clients["work"]
	enforce(t, topo.FW.File, work(allowUDP(9006)))
	p := topo.Listen(t, "udp", netip.AddrPortFrom(peer, 9006)).(net.PacketConn)
	u := udpFrom(t, c, 40006)
	if !send(t, u, p, 9006, "first") {
		t.Fatal("the first datagram did not pass under the list that allows it")
	}

	enforce(t, topo.FW.File, work())
	if _, err := p.WriteTo([]byte("late"), net.UDPAddrFromAddrPort(netip.AddrPortFrom(client4, 40006))); err != nil {
		t.Fatal(err)
	}
	if !arrives(t, u) {
		t.Fatal("the peer's datagram did not reach the client; the test needs it to")
	}
	if send(t, u, p, 9006, "out") {
		t.Error("the client's answer to the peer's datagram passed, though its list denies the peer's port")
	}
	// The flow from outside is the client's too: the next purge judges
	// it by what the client sends in it, and ends it.
	if n := flowsTo(t, topo, 9006); n != 1 {
		t.Fatalf("%d flows with port 9006 tracked; want the peer's", n)
	}
	enforce(t, topo.FW.File, work())
	if n := flowsTo(t, topo, 9006); n != 0 {
		t.Errorf("%d flows with port 9006 tracked after a purge; want none", n)
	}
}

// TestApplyAfterKilledPurge has an apply, in a process of its own,
// killed between its commit and its purge: the flow the new list denies
// goes on. The next apply, which changes nothing, must end it, and a new
// socket on the same source port must not pass.
func TestApplyAfterKilledPurge(t *testing.T) {
	topo := testnet.New(t, work())
	c := topo.Clients["work"]
	enforce(t, topo.FW.File, work(allowUDP(9007)))
	p := topo.Listen(t, "udp", netip.AddrPortFrom(peer, 9007)).(net.PacketConn)
	u := udpFrom(t, c, 40007)
	if !send(t, u, p, 9007, "first") {
		t.Fatal("the first datagram did not pass under the list that allows it")
	}

	// An apply of a list that denies all, killed between its commit and
	// its purge.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), applyNetns+"=/run/netns/"+topo.FW.Name, applyList+"=deny", applyStall+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	cmd.Process.Kill()
	cmd.Wait()
	if line != "applied\n" {
		t.Fatalf("the apply said %q, %v; want applied", line, err)
	}
	if !send(t, u, p, 9007, "unpurged") {
		t.Fatal("without a purge, the flow did not go on; the test shows nothing")
	}

	enforce(t, topo.FW.File, work())
	if send(t, u, p, 9007, "after") {
		t.Error("the flow went on after an apply that changed nothing but purged")
	}
	u.Close()
	again := udpFrom(t, c, 40007)
	if send(t, again, p, 9007, "reused") {
		t.Error("a new socket on the purged flow's source port passed")
	}
}

// flowsTo counts the connections the firewall tracks to or from port.
func flowsTo(t *testing.T, topo *testnet.Topology, port uint16) int {
	t.Helper()
	ct, err := conntrack.Dial(&netlink.Config{NetNS: int(topo.FW.File.Fd())})
	if err != nil {
		t.Fatal(err)
	}
	defer ct.Close()
	flows, err := ct.Dump(nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range flows {
		if f.TupleOrig.Proto.DestinationPort == port || f.TupleOrig.Proto.SourcePort == port {
			n++
		}
	}
	return n
}
