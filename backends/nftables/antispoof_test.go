package nftables_test

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/backends/nftables"
	"github.com/qfw-dev/qfw/internal/netnstest"
	"github.com/qfw-dev/qfw/internal/testnet"
)

// TestAntiSpoofing sends, with real packets, what the prerouting and
// postrouting chains drop: from outside, a packet that claims a connected
// qube's address; from the firewall, a packet to a connected address that
// leaves by its uplink. Without the addresses in the table, both arrive.
func TestAntiSpoofing(t *testing.T) {
	topo := testnet.New(t, work())
	fwAddr := netip.MustParseAddrPort("100.64.0.1:9010")
	// A connected address that the firewall does not route to a vif, and
	// that the net namespace answers for.
	elsewhere := netip.MustParseAddr("10.137.0.99")
	topo.Net.Exec(t, nil, "ip", "addr", "add", client4.String()+"/32", "dev", "lo")
	topo.Net.Exec(t, nil, "ip", "addr", "add", elsewhere.String()+"/32", "dev", "lo")
	atFW := listenUDP(t, topo.FW, fwAddr)
	atNet := listenUDP(t, topo.Net, netip.AddrPortFrom(elsewhere, 9011))
	spoof := dialUDP(t, topo.Net, netip.AddrPortFrom(client4, 9012), fwAddr)
	out := dialUDP(t, topo.FW, netip.AddrPort{}, netip.AddrPortFrom(elsewhere, 9011))

	for _, connected := range [][]netip.Addr{nil, {client4, elsewhere}} {
		table, _ := nftables.Lower(work(), nftables.Options{Connected4: connected})
		if _, err := nftables.Apply(table, topo.FW.File); err != nil {
			t.Fatal(err)
		}
		want := connected == nil
		if _, err := spoof.Write([]byte("spoofed")); err != nil {
			t.Fatal(err)
		}
		if got := arrives(t, atFW); got != want {
			t.Errorf("connected %v: a packet from outside with source %s arrived: %v; want %v", connected, client4, got, want)
		}
		// The firewall's own packet: a drop in postrouting fails the send.
		_, err := out.Write([]byte("astray"))
		if err != nil && !errors.Is(err, syscall.EPERM) {
			t.Fatal(err)
		}
		if got := err == nil && arrives(t, atNet); got != want {
			t.Errorf("connected %v: a packet to %s by the uplink arrived: %v; want %v", connected, elsewhere, got, want)
		}
	}
}

func listenUDP(t *testing.T, ns *netnstest.NS, at netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	if err := ns.Do(func() (err error) {
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(at))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func dialUDP(t *testing.T, ns *netnstest.NS, from, to netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	var laddr *net.UDPAddr
	if from.IsValid() {
		laddr = net.UDPAddrFromAddrPort(from)
	}
	if err := ns.Do(func() (err error) {
		c, err = net.DialUDP("udp4", laddr, net.UDPAddrFromAddrPort(to))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetWriteDeadline(time.Now().Add(time.Minute))
	return c
}
