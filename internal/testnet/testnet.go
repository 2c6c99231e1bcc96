// Package testnet builds a test network of network namespaces in which
// qfw's nftables table is applied to a firewall and real packets are sent
// through it from clients: a Qubes firewall qube and its clients, made
// small.
package testnet

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/qfw-dev/qfw/backends/nftables"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/internal/netnstest"
)

// The test network: clients, each in a namespace of its own, joined to a
// firewall namespace by veth pairs whose firewall ends are named vif<n>.0
// as in a Qubes firewall qube; the firewall's uplink to a "net" namespace
// in which every address of LocalPrefixes is local, with a TCP service and
// a UDP echo service on every port (nft redirects them to one listener
// each), and the kernel's ICMP echo replies.
//
//	client (10.137.0.x) ── vif<n>.0 ┐
//	client (10.137.0.y) ── vif<m>.0 ┤ fw ── eth0 ── net (LocalPrefixes)
//
// Addresses come from the documentation and private ranges and exist only
// inside these namespaces.

// LocalPrefixes are the destinations the net namespace answers for.
var LocalPrefixes = []string{
	"10.0.0.0/16", "10.139.0.0/16", "93.184.216.0/24", "140.82.0.0/16", "172.16.0.0/12",
	"192.0.2.0/24", "192.168.0.0/16", "198.51.100.0/24", "203.0.113.0/24",
	"2001:db8::/33", "fd00::/16",
}

const (
	tcpService = 7000
	udpService = 7001
	// gateway4 and gateway6 are the firewall's address on every vif.
	gateway4 = "10.137.255.254"
	gateway6 = "fd09:24ef:4179::ffff"
	// probeTimeout is how long a probe waits for an answer: a reject
	// answers at once, so only a packet dropped without answer waits it.
	probeTimeout = 1500 * time.Millisecond
)

type Topology struct {
	FW, Net *netnstest.NS
	Clients map[string]*Client
}

// Client is one client of the firewall, in a namespace of its own.
type Client struct {
	NS *netnstest.NS
}

// New builds the network for clients (their names and addresses).
func New(t testing.TB, clients []nftables.Client) *Topology {
	t.Helper()
	topo := &Topology{FW: netnstest.New(t), Net: netnstest.New(t), Clients: map[string]*Client{}}
	fw, nt := topo.FW.Name, topo.Net.Name
	ip := func(args ...string) { netnstest.Run(t, nil, append([]string{"ip"}, args...)...) }

	// No duplicate address detection: until it ends, a new interface has
	// no usable link-local address, and the first IPv6 packets are lost.
	noDAD := []string{"sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"}
	topo.FW.Exec(t, nil, noDAD...)
	topo.Net.Exec(t, nil, noDAD...)
	ip("link", "add", "eth0", "netns", fw, "type", "veth", "peer", "name", "eth0", "netns", nt)
	for _, ns := range []string{fw, nt} {
		ip("-n", ns, "link", "set", "lo", "up")
		ip("-n", ns, "link", "set", "eth0", "up")
	}
	// Forward, and answer every reject: the kernel's rate limits on ICMP
	// errors would otherwise turn some rejects into silence.
	topo.FW.Exec(t, nil, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
		"net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0",
		"net.ipv4.icmp_msgs_per_sec=1000000", "net.ipv4.icmp_msgs_burst=1000000")
	ip("-n", fw, "addr", "add", "100.64.0.1/30", "dev", "eth0")
	ip("-n", fw, "-6", "addr", "add", "2001:db8:ffff::1/64", "dev", "eth0", "nodad")
	ip("-n", fw, "route", "add", "default", "via", "100.64.0.2")
	ip("-n", fw, "-6", "route", "add", "default", "via", "2001:db8:ffff::2")
	ip("-n", nt, "addr", "add", "100.64.0.2/30", "dev", "eth0")
	ip("-n", nt, "-6", "addr", "add", "2001:db8:ffff::2/64", "dev", "eth0", "nodad")
	ip("-n", nt, "route", "add", "10.137.0.0/16", "via", "100.64.0.1")
	ip("-n", nt, "route", "add", "10.138.0.0/16", "via", "100.64.0.1")
	ip("-n", nt, "-6", "route", "add", "fd09:24ef:4179::/64", "via", "2001:db8:ffff::1")
	for _, p := range LocalPrefixes {
		ip("-n", nt, "route", "add", "local", p, "dev", "lo")
	}
	topo.Net.Exec(t, []byte(fmt.Sprintf(`table inet services {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		th dport %d-%d accept
		meta l4proto tcp redirect to :%d
		meta l4proto udp redirect to :%d
	}
}
`, ListenPorts[0], ListenPorts[1], tcpService, udpService)), "nft", "-f", "-")
	topo.serve(t)

	for i, c := range clients {
		cns := netnstest.New(t)
		cns.Exec(t, nil, noDAD...)
		vif := fmt.Sprintf("vif%d.0", i+1)
		ip("link", "add", "eth0", "netns", cns.Name, "type", "veth", "peer", "name", vif, "netns", fw)
		ip("-n", cns.Name, "link", "set", "lo", "up")
		ip("-n", cns.Name, "link", "set", "eth0", "up")
		ip("-n", fw, "link", "set", vif, "up")
		ip("-n", fw, "addr", "add", gateway4+"/32", "dev", vif)
		ip("-n", cns.Name, "addr", "add", c.Addr4.String()+"/32", "dev", "eth0")
		ip("-n", cns.Name, "route", "add", gateway4, "dev", "eth0")
		ip("-n", cns.Name, "route", "add", "default", "via", gateway4)
		ip("-n", fw, "route", "add", c.Addr4.String()+"/32", "dev", vif)
		if c.Addr6.IsValid() {
			ip("-n", fw, "-6", "addr", "add", gateway6+"/128", "dev", vif, "nodad")
			ip("-n", cns.Name, "-6", "addr", "add", c.Addr6.String()+"/128", "dev", "eth0", "nodad")
			ip("-n", cns.Name, "-6", "route", "add", gateway6, "dev", "eth0")
			ip("-n", cns.Name, "-6", "route", "add", "default", "via", gateway6)
			ip("-n", fw, "-6", "route", "add", c.Addr6.String()+"/128", "dev", vif)
		}
		topo.Clients[c.Name] = &Client{NS: cns}
	}
	return topo
}

// ListenPorts are the first and last ports that reach the net namespace's
// sockets as sent, for tests that need a peer of their own (Listen);
// every other port reaches the TCP and UDP services.
var ListenPorts = [2]uint16{9000, 9099}

// Listen opens a socket in the net namespace, closed when the test ends:
// a TCP listener or a UDP socket on an address it answers for, at a port
// of ListenPorts.
func (topo *Topology) Listen(t testing.TB, network string, at netip.AddrPort) io.Closer {
	t.Helper()
	var c io.Closer
	err := topo.Net.Do(func() (err error) {
		switch network {
		case "tcp":
			c, err = net.Listen(network, at.String())
		default:
			c, err = net.ListenPacket(network, at.String())
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// serve starts the services of the net namespace, stopped when the test
// ends.
func (topo *Topology) serve(t testing.TB) {
	var tcp net.Listener
	var udp net.PacketConn
	err := topo.Net.Do(func() (err error) {
		if tcp, err = net.Listen("tcp", fmt.Sprintf(":%d", tcpService)); err != nil {
			return err
		}
		udp, err = net.ListenPacket("udp", fmt.Sprintf(":%d", udpService))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tcp.Close(); udp.Close() })
	go func() {
		for {
			c, err := tcp.Accept()
			if err != nil {
				return
			}
			// An echo, so that a connection can be seen to go on or end.
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := udp.ReadFrom(buf)
			if err != nil {
				return
			}
			udp.WriteTo(buf[:n], from)
		}
	}()
}

// Apply puts table in force in the firewall namespace.
func (topo *Topology) Apply(t testing.TB, table *nftables.Table) {
	t.Helper()
	if _, err := nftables.Apply(table, topo.FW.File); err != nil {
		t.Fatal(err)
	}
}

// Forget empties the firewall's connection tracking table, so that the
// next packets are judged by the rules, not let through as parts of
// connections the previous rules allowed.
func (topo *Topology) Forget(t testing.TB) {
	t.Helper()
	c, err := conntrack.Dial(&netlink.Config{NetNS: int(topo.FW.File.Fd())})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
}

// Fate is what happened to a probe.
type Fate int

const (
	Accepted Fate = iota
	Rejected      // an ICMP error came back
	Dropped       // nothing came back
)

func (f Fate) String() string { return [...]string{"accepted", "rejected", "dropped"}[f] }

// Probe is one real packet: a TCP connection attempt, a UDP datagram that
// the net namespace echoes, or an ICMP echo request (ICMPv6 in IPv6).
type Probe struct {
	Proto string // tcp, udp or icmp
	Dst   netip.Addr
	Port  uint16
}

func (p Probe) String() string {
	if p.Proto == "icmp" {
		return "icmp echo to " + p.Dst.String()
	}
	return fmt.Sprintf("%s %d to %s", p.Proto, p.Port, p.Dst)
}

// Send sends p from the client and says what became of it.
func (c *Client) Send(p Probe) (Fate, error) {
	var f Fate
	err := c.NS.Do(func() (err error) {
		switch p.Proto {
		case "tcp":
			f, err = tcpProbe(p, probeTimeout)
		case "udp":
			f, err = udpProbe(p, probeTimeout)
		case "icmp":
			f, err = echoProbe(p)
		default:
			err = fmt.Errorf("unknown probe protocol %q", p.Proto)
		}
		return err
	})
	return f, err
}

// rejection reports whether err is what an ICMP admin-prohibited reject
// makes of a socket call: EHOSTUNREACH for IPv4, EACCES for IPv6.
func rejection(err error) bool {
	return errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.EACCES)
}

func timeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func tcpProbe(p Probe, wait time.Duration) (Fate, error) {
	c, err := net.DialTimeout("tcp", netip.AddrPortFrom(p.Dst, p.Port).String(), wait)
	if err == nil {
		c.Close()
	}
	return fate(err)
}

func udpProbe(p Probe, wait time.Duration) (Fate, error) {
	c, err := net.Dial("udp", netip.AddrPortFrom(p.Dst, p.Port).String())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if _, err := c.Write([]byte("qfw")); err != nil {
		return 0, err
	}
	c.SetReadDeadline(time.Now().Add(wait))
	_, err = c.Read(make([]byte, 16))
	return fate(err)
}

// fate tells what the firewall did from the outcome of a socket call that
// waits for an answer: none, a reject, a time-out, or another failure.
func fate(err error) (Fate, error) {
	switch {
	case err == nil:
		return Accepted, nil
	case rejection(err):
		return Rejected, nil
	case timeout(err):
		return Dropped, nil
	}
	return 0, err
}

// echoID numbers the echo probes.
var echoID atomic.Uint32

// quotesEcho reports whether an ICMP error's quoted packet is the echo
// request with id.
func quotesEcho(quoted []byte, id int, is6 bool) bool {
	hdr := 40
	if !is6 {
		if len(quoted) < 1 {
			return false
		}
		hdr = int(quoted[0]&0x0f) * 4
	}
	return len(quoted) >= hdr+6 && int(quoted[hdr+4])<<8|int(quoted[hdr+5]) == id
}

func echoProbe(p Probe) (Fate, error) {
	network, addr, echo, reply, unreach, proto := "ip4:icmp", "0.0.0.0", icmp.Type(ipv4.ICMPTypeEcho), icmp.Type(ipv4.ICMPTypeEchoReply), icmp.Type(ipv4.ICMPTypeDestinationUnreachable), 1
	if p.Dst.Is6() {
		network, addr, echo, reply, unreach, proto = "ip6:ipv6-icmp", "::", ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply, ipv6.ICMPTypeDestinationUnreachable, 58
	}
	c, err := icmp.ListenPacket(network, addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	// Each probe has an ID of its own: conntrack tells ICMP echo
	// "connections" apart by ID, and a late answer to an earlier probe must
	// not count for this one.
	id := int(echoID.Add(1) & 0xffff)
	msg := icmp.Message{Type: echo, Body: &icmp.Echo{ID: id, Seq: 1, Data: []byte("qfw")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return 0, err
	}
	if _, err := c.WriteTo(b, &net.IPAddr{IP: p.Dst.AsSlice()}); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(probeTimeout)
	buf := make([]byte, 1500)
	for {
		c.SetReadDeadline(deadline)
		n, _, err := c.ReadFrom(buf)
		if timeout(err) {
			return Dropped, nil
		}
		if err != nil {
			return 0, err
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil {
			continue
		}
		switch m.Type {
		case reply:
			if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id {
				return Accepted, nil
			}
		case unreach:
			// The error quotes the packet it is about: IP header, then
			// the echo request's type, code, checksum and ID.
			if u, ok := m.Body.(*icmp.DstUnreach); ok && quotesEcho(u.Data, id, p.Dst.Is6()) {
				return Rejected, nil
			}
		}
	}
}

// ProbeFor turns a packet the evaluator decides into one the network can
// send: to an address the net namespace answers for; TCP, UDP, or an ICMP
// echo request.
func ProbeFor(p eval.Packet) (Probe, bool) {
	if !p.Dst.IsValid() || !Answered(p.Dst) {
		return Probe{}, false
	}
	switch {
	case p.Proto == eval.ProtoTCP:
		return Probe{Proto: "tcp", Dst: p.Dst, Port: p.Port}, true
	case p.Proto == eval.ProtoUDP:
		return Probe{Proto: "udp", Dst: p.Dst, Port: p.Port}, true
	case p.Proto == eval.ProtoICMP && p.ICMPType == 8, p.Proto == eval.ProtoICMPv6 && p.ICMPType == 128:
		return Probe{Proto: "icmp", Dst: p.Dst}, true
	}
	return Probe{}, false
}

// Answered reports whether the net namespace answers for a.
func Answered(a netip.Addr) bool {
	for _, s := range LocalPrefixes {
		if netip.MustParsePrefix(s).Contains(a) {
			return true
		}
	}
	return false
}
