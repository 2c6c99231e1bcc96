package nftables

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// reader reads qfw's table back from the kernel through a netlink socket
// of its own, one dump per request, and decodes only what a State holds:
// google/nftables v0.3.0 lists a chain's rules with one dump per chain
// and decodes every expression and set element into objects, which costs
// more than the kernel's dump itself when sets hold thousands of elements.
type reader struct {
	c *netlink.Conn
}

// newReader opens a reader in netns, or in the process's own network
// namespace if netns is nil.
func newReader(netns *os.File) (*reader, error) {
	cfg := &netlink.Config{}
	if netns != nil {
		cfg.NetNS = int(netns.Fd())
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, cfg)
	if err != nil {
		return nil, fmt.Errorf("open nf_tables netlink: %w", err)
	}
	if err := c.SetReadBuffer(socketBuffer); err != nil {
		c.Close()
		return nil, fmt.Errorf("open nf_tables netlink: %w", err)
	}
	return &reader{c: c}, nil
}

func (r *reader) Close() error { return r.c.Close() }

// dump sends the nf_tables dump request msg (NFT_MSG_GET*) for the inet
// family with attrs, and returns the attributes of each message of the
// answer.
func (r *reader) dump(msg int, attrs ...netlink.Attribute) ([][]byte, error) {
	data, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		return nil, err
	}
	// The nfgenmsg header: family, version, resource id.
	head := []byte{byte(unix.NFPROTO_INET), unix.NFNETLINK_V0, 0, 0}
	msgs, err := r.c.Execute(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | msg),
			Flags: netlink.Request | netlink.Dump,
		},
		Data: append(head, data...),
	})
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, len(msgs))
	for _, m := range msgs {
		if len(m.Data) < 4 {
			return nil, errors.New("short nf_tables message")
		}
		out = append(out, m.Data[4:])
	}
	return out, nil
}

// errAttr says that the kernel's answer does not parse.
var errAttr = errors.New("malformed netlink attribute in nf_tables' answer")

// eachAttr calls fn with the type (without its flags) and the data of
// each netlink attribute in b, in order, without copying them.
func eachAttr(b []byte, fn func(typ uint16, data []byte) error) error {
	for len(b) > 0 {
		if len(b) < unix.NLA_HDRLEN {
			return errAttr
		}
		n := int(binary.NativeEndian.Uint16(b))
		typ := binary.NativeEndian.Uint16(b[2:]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if n < unix.NLA_HDRLEN || n > len(b) {
			return errAttr
		}
		if err := fn(typ, b[unix.NLA_HDRLEN:n]); err != nil {
			return err
		}
		b = b[min(len(b), (n+unix.NLA_ALIGNTO-1)&^(unix.NLA_ALIGNTO-1)):]
	}
	return nil
}

// cstring returns a NUL-terminated string attribute's text.
func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// trimNUL returns a NUL-terminated string attribute's text, in place.
func trimNUL(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

// hasTable reports whether the kernel holds qfw's table.
func (r *reader) hasTable() (bool, error) {
	msgs, err := r.dump(unix.NFT_MSG_GETTABLE)
	if err != nil {
		return false, fmt.Errorf("read nftables: %w", err)
	}
	found := false
	for _, m := range msgs {
		err := eachAttr(m, func(typ uint16, data []byte) error {
			if typ == unix.NFTA_TABLE_NAME && cstring(data) == TableName {
				found = true
			}
			return nil
		})
		if err != nil {
			return false, fmt.Errorf("read nftables: %w", err)
		}
	}
	return found, nil
}

// chainNames returns the names of the chains of qfw's table, and whether
// each is a base chain (hooked in).
func (r *reader) chainNames() (map[string]bool, error) {
	msgs, err := r.dump(unix.NFT_MSG_GETCHAIN, netlink.Attribute{Type: unix.NFTA_CHAIN_TABLE, Data: []byte(TableName + "\x00")})
	if err != nil {
		return nil, fmt.Errorf("read nftables chains: %w", err)
	}
	out := map[string]bool{}
	for _, m := range msgs {
		var table, name string
		base := false
		err := eachAttr(m, func(typ uint16, data []byte) error {
			switch typ {
			case unix.NFTA_CHAIN_TABLE:
				table = cstring(data)
			case unix.NFTA_CHAIN_NAME:
				name = cstring(data)
			case unix.NFTA_CHAIN_HOOK:
				base = true
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read nftables chains: %w", err)
		}
		// Older kernels dump every table's chains.
		if table == TableName {
			out[name] = base
		}
	}
	return out, nil
}

// chains returns each chain of qfw's table with its number of rules and
// the digest on its last rule: one dump of the chains and one of all the
// table's rules.
func (r *reader) chains() (map[string]ChainState, error) {
	names, err := r.chainNames()
	if err != nil {
		return nil, err
	}
	out := make(map[string]ChainState, len(names))
	for name := range names {
		out[name] = ChainState{}
	}
	msgs, err := r.dump(unix.NFT_MSG_GETRULE, netlink.Attribute{Type: unix.NFTA_RULE_TABLE, Data: []byte(TableName + "\x00")})
	if err != nil {
		return nil, fmt.Errorf("read nftables rules: %w", err)
	}
	for _, m := range msgs {
		var table, chain, comment string
		err := eachAttr(m, func(typ uint16, data []byte) error {
			switch typ {
			case unix.NFTA_RULE_TABLE:
				table = cstring(data)
			case unix.NFTA_RULE_CHAIN:
				chain = cstring(data)
			case unix.NFTA_RULE_USERDATA:
				comment, _ = userdata.GetString(data, userdata.TypeComment)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read nftables rules: %w", err)
		}
		if table != TableName {
			continue
		}
		cs, ok := out[chain]
		if !ok {
			return nil, fmt.Errorf("read nftables rules: a rule of chain %s, which is not listed", chain)
		}
		// The kernel dumps a chain's rules in order: the last one seen
		// is its last.
		out[chain] = ChainState{Rules: cs.Rules + 1, Digest: comment}
	}
	return out, nil
}

// setInfo is what the reader knows of a set in the kernel.
type setInfo struct {
	name string
	// flags are the set's NFT_SET_* flags; keyType and keyLen its key's
	// type and length.
	flags, keyType, keyLen uint32
}

func (s setInfo) isMap() bool { return s.flags&unix.NFT_SET_MAP != 0 }

// sets returns the sets and maps of qfw's table.
func (r *reader) sets() ([]setInfo, error) {
	msgs, err := r.dump(unix.NFT_MSG_GETSET, netlink.Attribute{Type: unix.NFTA_SET_TABLE, Data: []byte(TableName + "\x00")})
	if err != nil {
		return nil, fmt.Errorf("read nftables sets: %w", err)
	}
	var out []setInfo
	for _, m := range msgs {
		var table string
		var s setInfo
		err := eachAttr(m, func(typ uint16, data []byte) error {
			switch typ {
			case unix.NFTA_SET_TABLE:
				table = cstring(data)
			case unix.NFTA_SET_NAME:
				s.name = cstring(data)
			case unix.NFTA_SET_FLAGS, unix.NFTA_SET_KEY_TYPE, unix.NFTA_SET_KEY_LEN:
				if len(data) != 4 {
					return errAttr
				}
				v := binary.BigEndian.Uint32(data)
				switch typ {
				case unix.NFTA_SET_FLAGS:
					s.flags = v
				case unix.NFTA_SET_KEY_TYPE:
					s.keyType = v
				default:
					s.keyLen = v
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read nftables sets: %w", err)
		}
		if table == TableName {
			out = append(out, s)
		}
	}
	return out, nil
}

// rawElement is a set element as the kernel dumps it. Key, KeyEnd and
// Chain point into the answer.
type rawElement struct {
	key, keyEnd []byte
	flags       uint32
	// chain is the chain a map element's verdict jumps to.
	chain []byte
}

func (e rawElement) intervalEnd() bool { return e.flags&unix.NFT_SET_ELEM_INTERVAL_END != 0 }

// elements returns the elements of the set name, and calls fn for each
// element as it decodes it.
func (r *reader) elements(name string, fn func(rawElement) error) error {
	msgs, err := r.dump(unix.NFT_MSG_GETSETELEM,
		netlink.Attribute{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: []byte(TableName + "\x00")},
		netlink.Attribute{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: []byte(name + "\x00")})
	if err != nil {
		return fmt.Errorf("read nftables set %s: %w", name, err)
	}
	value := func(data []byte) (v []byte, err error) {
		err = eachAttr(data, func(typ uint16, d []byte) error {
			if typ == unix.NFTA_DATA_VALUE {
				v = d
			}
			return nil
		})
		return v, err
	}
	elem := func(data []byte) error {
		var e rawElement
		err := eachAttr(data, func(typ uint16, d []byte) (err error) {
			switch typ {
			case unix.NFTA_SET_ELEM_KEY:
				e.key, err = value(d)
			case nftables.NFTA_SET_ELEM_KEY_END:
				e.keyEnd, err = value(d)
			case unix.NFTA_SET_ELEM_FLAGS:
				if len(d) != 4 {
					return errAttr
				}
				e.flags = binary.BigEndian.Uint32(d)
			case unix.NFTA_SET_ELEM_DATA:
				err = eachAttr(d, func(typ uint16, d []byte) error {
					if typ != unix.NFTA_DATA_VERDICT {
						return nil
					}
					return eachAttr(d, func(typ uint16, d []byte) error {
						if typ == unix.NFTA_VERDICT_CHAIN {
							e.chain = trimNUL(d)
						}
						return nil
					})
				})
			}
			return err
		})
		if err != nil {
			return err
		}
		return fn(e)
	}
	for _, m := range msgs {
		err := eachAttr(m, func(typ uint16, data []byte) error {
			if typ != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
				return nil
			}
			return eachAttr(data, func(typ uint16, data []byte) error {
				if typ != unix.NFTA_LIST_ELEM {
					return nil
				}
				return elem(data)
			})
		})
		if err != nil {
			return fmt.Errorf("read nftables set %s: %w", name, err)
		}
	}
	return nil
}

// count returns the number of elements of the set name, a range counting
// once.
func (r *reader) count(name string) (int, error) {
	n := 0
	err := r.elements(name, func(e rawElement) error {
		// An interval of an rbtree set comes back as a start and an end
		// element.
		if !e.intervalEnd() {
			n++
		}
		return nil
	})
	return n, err
}

// state reads qfw's table: every chain, and the number of elements of the
// sets for which withSet is true (nil: none). It returns nil if there is
// no table.
func (r *reader) state(withSet func(name string) bool) (*State, error) {
	ok, err := r.hasTable()
	if err != nil || !ok {
		return nil, err
	}
	s := &State{}
	if s.Chains, err = r.chains(); err != nil {
		return nil, err
	}
	if withSet == nil {
		return s, nil
	}
	sets, err := r.sets()
	if err != nil {
		return nil, err
	}
	s.Sets = map[string]int{}
	for _, set := range sets {
		if !withSet(set.name) {
			continue
		}
		if s.Sets[set.name], err = r.count(set.name); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// decoded returns the elements of the set name in the kernel as qfw
// describes them, the set being of kind (AddrSet, PortSet or ICMPSet) and
// family. It reports false when they are not as qfw sends them: the
// caller then makes the set anew rather than change it.
func (r *reader) decoded(name string, kind SetKind, family int) ([]Element, bool, error) {
	size := 4
	if family == 6 {
		size = 16
	}
	at := func(b []byte) netip.Addr {
		a, _ := netip.AddrFromSlice(b)
		return a
	}
	var out []Element
	var starts, ends []netip.Addr
	ok := true
	err := r.elements(name, func(e rawElement) error {
		k, ke := e.key, e.keyEnd
		switch {
		case !ok:
		case kind == AddrSet:
			if len(k) != size || ke != nil {
				ok = false
			} else if e.intervalEnd() {
				ends = append(ends, at(k))
			} else {
				starts = append(starts, at(k))
			}
		case kind == PortSet:
			// address . protocol . port, each field padded to 4 bytes.
			if len(k) != size+8 || len(ke) != size+8 || e.intervalEnd() || k[size] != ke[size] {
				ok = false
				break
			}
			out = append(out, Element{
				First: at(k[:size]), Last: at(ke[:size]), Proto: k[size],
				Low: binary.BigEndian.Uint16(k[size+4:]), High: binary.BigEndian.Uint16(ke[size+4:]),
			})
		case kind == ICMPSet:
			if len(k) != size+4 || len(ke) != size+4 || e.intervalEnd() {
				ok = false
				break
			}
			out = append(out, Element{First: at(k[:size]), Last: at(ke[:size]), Low: uint16(k[size]), High: uint16(ke[size])})
		default:
			ok = false
		}
		return nil
	})
	if err != nil || !ok {
		return nil, false, err
	}
	if kind != AddrSet {
		return out, true, nil
	}
	// An interval is [start, end): each start up to the next end, which
	// comes before the next start; the last may reach the family's last
	// address and have no end.
	slices.SortFunc(starts, netip.Addr.Compare)
	slices.SortFunc(ends, netip.Addr.Compare)
	if len(ends) != len(starts) && len(ends) != len(starts)-1 {
		return nil, false, nil
	}
	for i, first := range starts {
		last := netip.AddrFrom4([4]byte{255, 255, 255, 255})
		if family == 6 {
			last = netip.AddrFrom16([16]byte{0: 0xff, 1: 0xff, 2: 0xff, 3: 0xff, 4: 0xff, 5: 0xff, 6: 0xff, 7: 0xff, 8: 0xff, 9: 0xff, 10: 0xff, 11: 0xff, 12: 0xff, 13: 0xff, 14: 0xff, 15: 0xff})
		}
		if i < len(ends) {
			if !first.Less(ends[i]) || i+1 < len(starts) && starts[i+1].Less(ends[i]) {
				return nil, false, nil
			}
			last = ends[i].Prev()
		}
		out = append(out, Element{First: first, Last: last})
	}
	return out, true, nil
}
