package nftables

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
)

// Purge ends the tracked connections of clients that their lists do not
// allow: the forward chain lets every packet of a known connection
// through, so without this a connection opened under the old rules would
// outlive a rule that now forbids it (the Linux agent does the same,
// QubesOS/qubes-issues#4141). It judges every connection in the kernel
// against the lists as they are, whatever an earlier apply or purge did or
// failed to do, so one after each apply, changed or not, also ends what an
// apply killed before its purge left.
//
// A connection is judged from each end that is one of clients: the
// packets it sends, as conntrack remembers them (the original tuple when
// the client opened it, the reply tuple when it came from outside), are
// judged by the reference evaluator with the nftables backend's semantics
// and opts, as if the client sent the first of them. A connection from
// outside to a client (a port forwarded to it, or a datagram of a server
// that outlived its flow's purge) thus ends when the client's list would
// not let it send to that peer and port: its destination is the peer, its
// port the peer's source port. So is a connection that the firewall qube
// itself opens to a client. The connections judged not allowed are
// deleted; Purge returns how many.
func Purge(clients []Client, opts Options, netns *os.File) (int, error) {
	var purged int
	err := withLock(netns, func() (err error) {
		purged, err = purge(clients, opts, netns)
		return err
	})
	return purged, err
}

func purge(clients []Client, opts Options, netns *os.File) (int, error) {
	c, err := dialConntrack(netns)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	flows, err := c.Dump(nil)
	if err != nil {
		return 0, fmt.Errorf("read conntrack: %w", err)
	}
	j := newJudge(clients, opts)
	purged := 0
	var errs []error
	for _, f := range flows {
		if j.allowed(f.TupleOrig) && j.allowed(f.TupleReply) {
			continue
		}
		if err := c.Delete(f); err != nil {
			// Gone already: it timed out, or the other side ended it.
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			errs = append(errs, fmt.Errorf("end connection %s: %w", f.TupleOrig, err))
			continue
		}
		purged++
	}
	return purged, errors.Join(errs...)
}

// judge judges the packets of clients. It builds a client's evaluator
// when a connection of the client is first judged: indexing a long list
// costs more than a purge that finds none of its connections.
type judge struct {
	opts    Options
	clients map[netip.Addr]*Client // by each address of a client
	evals   map[*Client]*eval.Evaluator
}

func newJudge(clients []Client, opts Options) *judge {
	j := &judge{opts: opts, clients: map[netip.Addr]*Client{}, evals: map[*Client]*eval.Evaluator{}}
	for i := range clients {
		c := &clients[i]
		for _, a := range []netip.Addr{c.Addr4, c.Addr6} {
			if a.IsValid() {
				j.clients[a] = c
			}
		}
	}
	return j
}

// allowed reports whether the packet of tuple t may go on: it is not from
// a client, or its client's list surely accepts it. A name the table
// could not resolve blocks its family there, so only an exact accept
// counts.
func (j *judge) allowed(t conntrack.Tuple) bool {
	c := j.clients[t.IP.SourceAddress]
	if c == nil {
		return true
	}
	e := j.evals[c]
	if e == nil {
		e = j.opts.Evaluator(*c)
		j.evals[c] = e
	}
	r := e.Eval(packetOf(t))
	return r.Action == ir.Accept && r.Exact()
}

// packetOf returns the packet that a tuple stands for.
func packetOf(t conntrack.Tuple) eval.Packet {
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
