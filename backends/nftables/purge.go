package nftables

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
)

// Purge ends the tracked connections of clients that their lists no
// longer allow: the forward chain lets every packet of a known connection
// through, so without this a connection opened under the old rules would
// outlive a rule that now forbids it (the Linux agent does the same,
// QubesOS/qubes-issues#4141). Each connection's first packet, as
// conntrack remembers it, is judged by the reference evaluator with the
// nftables backend's semantics and opts; the connections it drops are
// deleted. It returns how many.
func Purge(clients []Client, opts Options, netns *os.File) (int, error) {
	evals := map[netip.Addr]*eval.Evaluator{}
	for _, c := range clients {
		e := opts.Evaluator(c)
		for _, a := range []netip.Addr{c.Addr4, c.Addr6} {
			if a.IsValid() {
				evals[a] = e
			}
		}
	}
	c, err := dialConntrack(netns)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	flows, err := c.Dump(nil)
	if err != nil {
		return 0, fmt.Errorf("read conntrack: %w", err)
	}
	purged := 0
	var errs []error
	for _, f := range flows {
		e := evals[f.TupleOrig.IP.SourceAddress]
		if e == nil {
			continue
		}
		// Only what the new rules surely accept goes on: a name the
		// table could not resolve blocks its family there.
		if r := e.Eval(firstPacket(f)); r.Action == ir.Accept && r.Exact() {
			continue
		}
		if err := c.Delete(f); err != nil {
			errs = append(errs, fmt.Errorf("end connection %s: %w", f.TupleOrig, err))
			continue
		}
		purged++
	}
	return purged, errors.Join(errs...)
}

// firstPacket returns the packet that opened a tracked connection.
func firstPacket(f conntrack.Flow) eval.Packet {
	t := f.TupleOrig
	p := eval.Packet{Dst: t.IP.DestinationAddress, Proto: t.Proto.Protocol}
	switch {
	case t.Proto.ICMPv4 || t.Proto.ICMPv6:
		p.ICMPType = t.Proto.ICMPType
	default:
		p.Port = t.Proto.DestinationPort
	}
	return p
}

func dialConntrack(netns *os.File) (*conntrack.Conn, error) {
	cfg := &netlink.Config{}
	if netns != nil {
		cfg.NetNS = int(netns.Fd())
	}
	c, err := conntrack.Dial(cfg)
	if err != nil {
		return nil, fmt.Errorf("open conntrack netlink: %w", err)
	}
	return c, nil
}

// forgetConnections empties the connection tracking table.
func forgetConnections(netns *os.File) error {
	c, err := dialConntrack(netns)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Flush(); err != nil {
		return fmt.Errorf("flush conntrack: %w", err)
	}
	return nil
}
