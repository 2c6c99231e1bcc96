package nftables

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
)

// socketBuffer is the size of the netlink socket's send and receive
// buffers. google/nftables v0.3.0 sends a whole batch in one message, and
// asks for an acknowledgement of every message and an echo of every rule:
// with the default buffers a batch of a few hundred rules fails to send,
// or is committed and then reported as failed. Privileged sockets may
// exceed the system's maximum.
const socketBuffer = 64 << 20

// dial opens a netlink connection to nf_tables in netns, or in the
// process's own network namespace if netns is nil. A connection is used
// for one batch or one reading and then dropped: after a failed Flush,
// v0.3.0 leaves a connection out of step with the kernel. A connection for
// a reading (lasting) keeps one socket for all its requests instead of
// opening one per request; it must be closed with CloseLasting.
func dial(netns *os.File, lasting bool) (*nftables.Conn, error) {
	opts := []nftables.ConnOption{nftables.WithSockOptions(func(c *netlink.Conn) error {
		if err := c.SetWriteBuffer(socketBuffer); err != nil {
			return err
		}
		return c.SetReadBuffer(socketBuffer)
	})}
	if netns != nil {
		opts = append(opts, nftables.WithNetNSFd(int(netns.Fd())))
	}
	if lasting {
		opts = append(opts, nftables.AsLasting())
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("open nf_tables netlink: %w", err)
	}
	return c, nil
}

func nftTable() *nftables.Table {
	return &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}
}

// batch queues the commands that create t's objects in table: chains
// first (verdict maps jump to them), then sets with their elements, then
// rules (which look the sets up).
type batch struct {
	c     *nftables.Conn
	table *nftables.Table
	sets  map[string]*nftables.Set
}

func (b *batch) addChain(ch *Chain) *nftables.Chain {
	nc := &nftables.Chain{Name: ch.Name, Table: b.table}
	policy := nftables.ChainPolicyAccept
	switch ch.Hook {
	case Forward:
		policy = nftables.ChainPolicyDrop
		nc.Hooknum, nc.Priority = nftables.ChainHookForward, nftables.ChainPriorityFilter
	case Prerouting:
		nc.Hooknum, nc.Priority = nftables.ChainHookPrerouting, nftables.ChainPriorityRaw
	case Postrouting:
		nc.Hooknum, nc.Priority = nftables.ChainHookPostrouting, nftables.ChainPriorityRaw
	default:
		return b.c.AddChain(nc)
	}
	nc.Type, nc.Policy = nftables.ChainTypeFilter, &policy
	return b.c.AddChain(nc)
}

func (b *batch) addSet(s *Set) error {
	ns := netlinkSet(s, b.table)
	// v0.3.0 puts all elements given to AddSet in one netlink attribute
	// whose length is 16 bits, and silently drops what does not fit:
	// elements go in separate, smaller messages of the same batch.
	if err := b.c.AddSet(ns, nil); err != nil {
		return fmt.Errorf("set %s: %w", s.Name, err)
	}
	elems := netlinkElements(s)
	chunk := elementsPerMessage(s)
	for len(elems) > 0 {
		n := min(chunk, len(elems))
		if err := b.c.SetAddElements(ns, elems[:n]); err != nil {
			return fmt.Errorf("set %s: %w", s.Name, err)
		}
		elems = elems[n:]
	}
	b.sets[s.Name] = ns
	return nil
}

func (b *batch) addRules(ch *Chain, nc *nftables.Chain) {
	for _, r := range ch.Rules {
		ctx := &ruleCtx{family: r.Family}
		var exprs []expr.Any
		for _, e := range r.Exprs {
			exprs = append(exprs, e.netlink(ctx)...)
		}
		for _, e := range exprs {
			// A set made in the same batch is known by its ID.
			if l, ok := e.(*expr.Lookup); ok {
				if s := b.sets[l.SetName]; s != nil {
					l.SetID = s.ID
				}
			}
		}
		rule := &nftables.Rule{Table: b.table, Chain: nc, Exprs: exprs}
		if r.Comment != "" {
			rule.UserData = userdata.AppendString(nil, userdata.TypeComment, r.Comment)
		}
		b.c.AddRule(rule)
	}
}

// netlinkSet returns the set as google/nftables describes it.
func netlinkSet(s *Set, table *nftables.Table) *nftables.Set {
	addr := nftables.TypeIPAddr
	if s.Family == 6 {
		addr = nftables.TypeIP6Addr
	}
	ns := &nftables.Set{Table: table, Name: s.Name, KeyType: addr}
	switch s.Kind {
	case AddrSet:
		ns.Interval = true
	case PortSet:
		ns.Interval, ns.Concatenation = true, true
		ns.KeyType = nftables.MustConcatSetType(addr, nftables.TypeInetProto, nftables.TypeInetService)
	case ICMPSet:
		icmp := nftables.TypeICMPType
		if s.Family == 6 {
			icmp = nftables.TypeICMP6Type
		}
		ns.Interval, ns.Concatenation = true, true
		ns.KeyType = nftables.MustConcatSetType(addr, icmp)
	case VerdictMap:
		ns.IsMap, ns.DataType = true, nftables.TypeVerdict
	case GuardSet:
		ns.Interval, ns.Concatenation = true, true
		ns.KeyType = nftables.MustConcatSetType(nftables.TypeMark, nftables.TypeMark)
	}
	return ns
}

// netlinkElements returns the set's elements as the kernel takes them.
func netlinkElements(s *Set) []nftables.SetElement {
	var out []nftables.SetElement
	for _, e := range s.Elements {
		switch s.Kind {
		case AddrSet:
			// A range is [first, last+1): a start and an end element.
			// A range that reaches the last address has no end.
			out = append(out, nftables.SetElement{Key: e.First.AsSlice()})
			if next := e.Last.Next(); next.IsValid() {
				out = append(out, nftables.SetElement{Key: next.AsSlice(), IntervalEnd: true})
			}
		case PortSet:
			// Concatenated ranges take an inclusive end in KeyEnd; each
			// field is padded to 4 bytes, ports in network order.
			out = append(out, nftables.SetElement{
				Key:    concat(e.First, []byte{e.Proto, 0, 0, 0}, port(e.Low)),
				KeyEnd: concat(e.Last, []byte{e.Proto, 0, 0, 0}, port(e.High)),
			})
		case ICMPSet:
			out = append(out, nftables.SetElement{
				Key:    concat(e.First, []byte{byte(e.Low), 0, 0, 0}),
				KeyEnd: concat(e.Last, []byte{byte(e.High), 0, 0, 0}),
			})
		case HostSet:
			out = append(out, nftables.SetElement{Key: e.First.AsSlice()})
		case VerdictMap:
			out = append(out, nftables.SetElement{
				Key:         e.First.AsSlice(),
				VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: e.Jump},
			})
		case GuardSet:
			out = append(out, nftables.SetElement{
				Key:    make([]byte, 8),
				KeyEnd: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
			})
		}
	}
	return out
}

func concat(a netip.Addr, fields ...[]byte) []byte {
	out := a.AsSlice()
	for _, f := range fields {
		out = append(out, f...)
	}
	return out
}

func port(p uint16) []byte { return []byte{byte(p >> 8), byte(p), 0, 0} }

// elementsPerMessage is how many elements of s fit well within the 64 KiB
// of one netlink attribute, keys, ends and their headers counted.
func elementsPerMessage(s *Set) int {
	key := 4
	if s.Family == 6 {
		key = 16
	}
	if s.Kind == PortSet || s.Kind == ICMPSet {
		key += 8
	}
	return 32 << 10 / (2*key + 48)
}
