package nftables

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// State is what the kernel holds of qfw's table, enough to tell whether it
// is what qfw applied: each chain's number of rules and digest, and each
// set's number of elements.
type State struct {
	Chains map[string]ChainState
	// Sets maps each set's name to its number of elements, a range
	// counting once.
	Sets map[string]int
}

// ChainState describes one chain in the kernel.
type ChainState struct {
	Rules  int
	Digest string
}

// sameChains reports whether s and o have the same chains, with the same
// digests and numbers of rules.
func (s *State) sameChains(o *State) bool {
	if s == nil || o == nil {
		return s == o
	}
	return maps.Equal(s.Chains, o.Chains)
}

// State returns the state t would leave in the kernel.
func (t *Table) State() *State {
	s := &State{Chains: map[string]ChainState{}, Sets: map[string]int{}}
	for _, c := range t.Chains {
		cs := ChainState{Rules: len(c.Rules)}
		if n := len(c.Rules); n > 0 {
			cs.Digest = c.Rules[n-1].Comment
		}
		s.Chains[c.Name] = cs
	}
	for _, set := range t.Sets {
		s.Sets[set.Name] = len(set.Elements)
	}
	return s
}

// Equal reports whether s and o describe the same table.
func (s *State) Equal(o *State) bool {
	return s.sameChains(o) && (s == nil || maps.Equal(s.Sets, o.Sets))
}

// Read reads qfw's table from the kernel, in netns or the process's own
// network namespace if netns is nil. It returns nil if there is no table.
func Read(netns *os.File) (*State, error) { return read(netns, allSets) }

// read reads qfw's table: its chains, and the number of elements of the
// sets for which withSet is true (none if nil). The elements cost most:
// what is about to be replaced needs its chains' digests only, and what
// one client's update leaves needs that client's sets and the maps.
func read(netns *os.File, withSet func(name string) bool) (*State, error) {
	r, err := newReader(netns)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.state(withSet)
}

func allSets(string) bool { return true }

// Change says what an apply changed, chain by chain.
type Change struct {
	Added, Removed, Changed []string
	Unchanged               int
}

func (c Change) String() string {
	if len(c.Added)+len(c.Removed)+len(c.Changed) == 0 {
		return fmt.Sprintf("no changes: %d chains as they were", c.Unchanged)
	}
	var parts []string
	for _, p := range []struct {
		what  string
		names []string
	}{{"added", c.Added}, {"changed", c.Changed}, {"removed", c.Removed}} {
		if len(p.names) > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", p.what, strings.Join(p.names, ", ")))
		}
	}
	return fmt.Sprintf("%s; %d chains unchanged", strings.Join(parts, "; "), c.Unchanged)
}

// Diff returns what going from before (nil for no table) to after
// changes, by the chains' digests.
func Diff(before, after *State) Change {
	var c Change
	if before == nil {
		before = &State{}
	}
	for name, cs := range after.Chains {
		old, ok := before.Chains[name]
		switch {
		case !ok:
			c.Added = append(c.Added, name)
		case old != cs:
			c.Changed = append(c.Changed, name)
		default:
			c.Unchanged++
		}
	}
	for name := range before.Chains {
		if _, ok := after.Chains[name]; !ok {
			c.Removed = append(c.Removed, name)
		}
	}
	slices.Sort(c.Added)
	slices.Sort(c.Changed)
	slices.Sort(c.Removed)
	return c
}

// ErrLockedDown says that the kernel did not hold what qfw applied, and
// qfw replaced its table with one that drops everything from the clients.
var ErrLockedDown = errors.New("the kernel does not hold what was applied; qfw's table now drops all traffic from clients")

// Apply replaces qfw's table with t in one netlink transaction, in netns
// or the process's own network namespace if netns is nil, and reads it
// back. If the kernel refuses the transaction, the previous table stays in
// force. If what it holds afterwards is not t, Apply fails closed: it
// replaces the table with one that drops all traffic from clients, and
// returns an error that wraps ErrLockedDown.
func Apply(t *Table, netns *os.File) (Change, error) {
	var change Change
	err := withLock(netns, func() error {
		before, err := read(netns, nil)
		if err != nil {
			return err
		}
		kept, flushErr := replace(t, netns)
		change, err = settle(netns, before, withKept(t.State(), kept), allSets, flushErr, "apply qfw's table")
		return err
	})
	return change, err
}

// settle reads back what a transaction left, expected to be want, and
// fails closed. It reads every chain, and the elements of the sets for
// which withSet is true: want holds those sets, and those alone. If it is
// want, the transaction was committed (even if its
// acknowledgement, flushErr, was lost) and settle says what changed since
// before. If the kernel refused the transaction and holds before, that
// stays in force. Anything else, or a table that cannot be read back, is
// not what qfw vouches for: settle replaces it with the lockdown table and
// returns an error that wraps ErrLockedDown.
func settle(netns *os.File, before, want *State, withSet func(string) bool, flushErr error, what string) (Change, error) {
	after, readErr := read(netns, withSet)
	switch {
	case readErr == nil && after.Equal(want):
		return Diff(before, after), nil
	case readErr == nil && flushErr != nil && after.sameChains(before):
		return Change{}, fmt.Errorf("%s: %w; the previous table stays in force", what, flushErr)
	}
	cause := errors.Join(flushErr, readErr)
	if _, err := replace(Lockdown(), netns); err != nil {
		return Change{}, fmt.Errorf("%s: %w, and locking down failed too: %w", what, ErrLockedDown, errors.Join(cause, err))
	}
	// The lockdown table lets known connections go on: forget them all.
	if err := forgetConnections(netns); err != nil {
		cause = errors.Join(cause, err)
	}
	if cause != nil {
		return Change{}, fmt.Errorf("%s: %w: %w", what, ErrLockedDown, cause)
	}
	return Change{}, fmt.Errorf("%s: %w", what, ErrLockedDown)
}

// replace sends the transaction that puts t in force, and returns the
// base chains that the kernel holds and t has not: they stay, without
// rules. If qfw's table is not there, the transaction makes it whole.
// If it is, the table and its base chains stay as they are, hooked in all
// along, and only what they hold changes: their rules are flushed, every
// map, set and regular chain is deleted, and t's are added. Deleting the
// table or a base chain and adding it again would unhook the chain for a
// moment within the commit, in which the kernel lets packets through that
// neither the old nor the new rules allow.
func replace(t *Table, netns *os.File) ([]string, error) {
	c, err := dial(netns, false)
	if err != nil {
		return nil, err
	}
	b := &batch{c: c, table: nftTable(), sets: map[string]*nftables.Set{}}
	kept, err := b.clear(t)
	if err != nil {
		return nil, err
	}
	chains := make([]*nftables.Chain, len(t.Chains))
	for i, ch := range t.Chains {
		// A base chain that is there is updated, not made again: the
		// kernel keeps its hook and takes the policy.
		chains[i] = b.addChain(ch)
	}
	// Lower puts the guard set last: its element is the last one queued.
	for _, s := range t.Sets {
		if err := b.addSet(s); err != nil {
			return nil, err
		}
	}
	for i, ch := range t.Chains {
		b.addRules(ch, chains[i])
	}
	return kept, c.Flush()
}

// clear queues what empties qfw's table but for its base chains, in the
// order the kernel accepts: rules first (they look sets up), then the
// maps (their elements jump to chains), then the regular chains and the
// sets. It returns the base chains the kernel holds that t has not.
func (b *batch) clear(t *Table) ([]string, error) {
	tables, err := b.c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("read nftables: %w", err)
	}
	b.c.AddTable(b.table)
	if !slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == TableName }) {
		return nil, nil
	}
	all, err := b.c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("read nftables chains: %w", err)
	}
	chains := slices.DeleteFunc(all, func(ch *nftables.Chain) bool { return ch.Table.Name != TableName })
	sets, err := b.c.GetSets(b.table)
	if err != nil {
		return nil, fmt.Errorf("read nftables sets: %w", err)
	}
	for _, ch := range chains {
		b.c.FlushChain(&nftables.Chain{Name: ch.Name, Table: b.table})
	}
	for _, s := range sets {
		if s.IsMap {
			b.c.DelSet(&nftables.Set{Name: s.Name, Table: b.table})
		}
	}
	var kept []string
	for _, ch := range chains {
		switch {
		case ch.Hooknum == nil:
			b.c.DelChain(&nftables.Chain{Name: ch.Name, Table: b.table})
		case !slices.ContainsFunc(t.Chains, func(c *Chain) bool { return c.Name == ch.Name }):
			kept = append(kept, ch.Name)
		}
	}
	for _, s := range sets {
		if !s.IsMap {
			b.c.DelSet(&nftables.Set{Name: s.Name, Table: b.table})
		}
	}
	slices.Sort(kept)
	return kept, nil
}

// withKept returns want with the base chains kept, empty.
func withKept(want *State, kept []string) *State {
	for _, name := range kept {
		want.Chains[name] = ChainState{}
	}
	return want
}

// Lockdown returns qfw's table that drops everything from clients: only
// their established connections and traffic from other interfaces pass.
// Its prerouting and postrouting chains are there, empty, so that putting
// it in force keeps every base chain of the table it replaces.
func Lockdown() *Table {
	forward := forwardHead()
	forward[len(forward)-1].Comment = DigestPrefix + "lockdown"
	return &Table{Chains: []*Chain{
		{Name: "forward", Hook: Forward, Rules: forward},
		{Name: "prerouting", Hook: Prerouting},
		{Name: "postrouting", Hook: Postrouting},
	}}
}

// UpdateClient replaces, in one netlink transaction, the chains and sets
// of one client in qfw's table with those of t, and its entries in the
// client maps, leaving every other client's as they are. The table must
// exist. Like Apply, it reads the result back and fails closed: every
// chain's digest and number of rules, and the elements of what the
// transaction changes (the client's sets, the client maps and the guard
// set). The other clients' sets are neither sent nor read: their chains'
// digests stand for them, as they do for UpdateElements.
func UpdateClient(t *Table, client string, netns *os.File) (Change, error) {
	var change Change
	err := withLock(netns, func() error {
		touched := clientScope(t, client)
		before, err := read(netns, func(name string) bool { return touched(name) && !ownsSet(name, client) })
		if err != nil {
			return err
		}
		if before == nil {
			return fmt.Errorf("update client %s: qfw's table is not there; apply the whole table first", client)
		}
		// The client's steps were laid out for t's DNS servers, which the
		// forward chain's digest covers, and the other base chains hold
		// the anti-spoofing: the kernel must hold the same.
		want := t.State()
		for _, ch := range t.Chains {
			if ch.Hook != NoHook && before.Chains[ch.Name] != want.Chains[ch.Name] {
				return fmt.Errorf("update client %s: the table in force differs from this one beyond the client (its DNS servers, connected addresses or base chains); apply the whole table", client)
			}
		}
		removed, flushErr := replaceClient(t, client, netns)
		change, err = settle(netns, before, clientState(t, want, client, before, removed), touched, flushErr, "update client "+client)
		return err
	})
	return change, err
}

// clientScope returns what UpdateClient of client with t changes among
// sets: the client's sets, the client maps and the guard set.
func clientScope(t *Table, client string) func(name string) bool {
	shared := map[string]bool{}
	for _, s := range t.Sets {
		if s.Kind == VerdictMap || s.Kind == GuardSet {
			shared[s.Name] = true
		}
	}
	return func(name string) bool { return shared[name] || ownsSet(name, client) }
}

// ownsChain reports whether chain is one of client's: c4-client or
// c6-client. Chains and sets have names of their own: c4-work-0-a may be
// the chain of a client work-0-a and a set of the client work.
func ownsChain(chain, client string) bool {
	return chain == ChainName(client, 4) || chain == ChainName(client, 6)
}

// ownsSet reports whether set is one of client's: one of its chains'
// names followed by -<step>-<kind>. Qube names may hold "-" and digits, so
// a prefix is not enough: c4-work-0-a is work's, c4-work-0-1-a work-0's.
func ownsSet(set, client string) bool {
	for _, fam := range []int{4, 6} {
		rest, ok := strings.CutPrefix(set, ChainName(client, fam)+"-")
		if !ok {
			continue
		}
		step, kind, ok := strings.Cut(rest, "-")
		if ok && step != "" && strings.Trim(step, "0123456789") == "" && (kind == "a" || kind == "p" || kind == "i") {
			return true
		}
	}
	return false
}

// clientState returns the state that replacing client's part of before
// with t's leaves, full being t.State() and removed the entries taken out
// of each client map: every chain, and the sets of clientScope.
func clientState(t *Table, full *State, client string, before *State, removed map[string]int) *State {
	want := &State{Chains: map[string]ChainState{}, Sets: map[string]int{}}
	for name, cs := range before.Chains {
		if !ownsChain(name, client) {
			want.Chains[name] = cs
		}
	}
	for name, cs := range full.Chains {
		if ownsChain(name, client) {
			want.Chains[name] = cs
		}
	}
	for name, n := range full.Sets {
		if ownsSet(name, client) {
			want.Sets[name] = n
		}
	}
	for _, s := range t.Sets {
		switch s.Kind {
		case GuardSet:
			want.Sets[s.Name] = len(s.Elements)
		case VerdictMap:
			// The client maps lose the client's old entries and gain its
			// new ones.
			n := before.Sets[s.Name] - removed[s.Name]
			for _, e := range s.Elements {
				if ownsChain(e.Jump, client) {
					n++
				}
			}
			want.Sets[s.Name] = n
		}
	}
	return want
}

// replaceClient sends the transaction that replaces client's part of the
// table with t's. It returns how many entries it takes out of each client
// map.
//
// A set of the client's that the kernel holds with the same name and type
// as one of t's is changed element by element, not made anew: a commit
// that moves one rule of a long list then sends a few elements, not the
// list. The client's chains that stay are flushed and filled again.
func replaceClient(t *Table, client string, netns *os.File) (map[string]int, error) {
	removed := map[string]int{}
	r, err := newReader(netns)
	if err != nil {
		return removed, err
	}
	defer r.Close()
	oldChains, err := r.chainNames()
	if err != nil {
		return removed, err
	}
	oldSets, err := r.sets()
	if err != nil {
		return removed, err
	}
	c, err := dial(netns, false)
	if err != nil {
		return removed, err
	}
	table := nftTable()
	b := &batch{c: c, table: table, sets: map[string]*nftables.Set{}}
	// Out of the client maps, the entries that jump to the client.
	for _, s := range oldSets {
		if !s.isMap() {
			continue
		}
		var gone []nftables.SetElement
		err := r.elements(s.name, func(e rawElement) error {
			if ownsChain(string(e.chain), client) {
				gone = append(gone, nftables.SetElement{Key: slices.Clone(e.key)})
			}
			return nil
		})
		if err != nil {
			return removed, err
		}
		if len(gone) > 0 {
			if err := c.SetDeleteElements(&nftables.Set{Name: s.name, Table: table}, gone); err != nil {
				return removed, err
			}
			removed[s.name] = len(gone)
		}
	}
	// The sets that stay, and what changes in them.
	var changes []setChange
	kept := map[string]bool{}
	for _, old := range oldSets {
		i := slices.IndexFunc(t.Sets, func(s *Set) bool { return s.Name == old.name })
		if i < 0 || !ownsSet(old.name, client) || !sameType(old, t.Sets[i]) {
			continue
		}
		elems, ok, err := r.decoded(old.name, t.Sets[i].Kind, t.Sets[i].Family)
		if err != nil {
			return removed, err
		}
		if !ok {
			continue
		}
		c := changeOf(t.Sets[i], elems)
		if concatenated(c.set.Kind) && len(c.gone) > maxRangeRemovals {
			continue
		}
		kept[old.name] = true
		changes = append(changes, c)
	}
	// The client's old rules, then its old sets, then its old chains but
	// those that stay: regular chains of the same name as t's.
	names := slices.Sorted(maps.Keys(oldChains))
	for _, name := range names {
		if ownsChain(name, client) {
			c.FlushChain(&nftables.Chain{Name: name, Table: table})
		}
	}
	for _, s := range oldSets {
		if ownsSet(s.name, client) && !kept[s.name] {
			c.DelSet(&nftables.Set{Name: s.name, Table: table})
		}
	}
	stays := func(name string) bool {
		base, ok := oldChains[name]
		return ok && !base && slices.ContainsFunc(t.Chains, func(ch *Chain) bool { return ch.Name == name })
	}
	for _, name := range names {
		if ownsChain(name, client) && !stays(name) {
			c.DelChain(&nftables.Chain{Name: name, Table: table})
		}
	}
	// Its new chains, sets and elements, rules and map entries. Elements
	// go out first, so that a new range may overlap one that goes.
	var chains []*Chain
	var added []*nftables.Chain
	for _, ch := range t.Chains {
		if !ownsChain(ch.Name, client) {
			continue
		}
		chains = append(chains, ch)
		if stays(ch.Name) {
			added = append(added, &nftables.Chain{Name: ch.Name, Table: table})
		} else {
			added = append(added, b.addChain(ch))
		}
	}
	for _, s := range changes {
		if err := sendChunks(s.set, s.gone, table, c.SetDeleteElements); err != nil {
			return removed, err
		}
	}
	for _, s := range changes {
		if err := sendChunks(s.set, s.gained, table, c.SetAddElements); err != nil {
			return removed, err
		}
	}
	for _, s := range t.Sets {
		if ownsSet(s.Name, client) && !kept[s.Name] {
			if err := b.addSet(s); err != nil {
				return removed, err
			}
		}
	}
	for i, ch := range chains {
		b.addRules(ch, added[i])
	}
	for _, s := range t.Sets {
		if s.Kind != VerdictMap {
			continue
		}
		mine := &Set{Name: s.Name, Family: s.Family, Kind: s.Kind}
		for _, e := range s.Elements {
			if ownsChain(e.Jump, client) {
				mine.Elements = append(mine.Elements, e)
			}
		}
		if len(mine.Elements) > 0 {
			if err := c.SetAddElements(netlinkSet(mine, table), netlinkElements(mine)); err != nil {
				return removed, err
			}
		}
	}
	if err := b.renewGuard(t); err != nil {
		return removed, err
	}
	return removed, c.Flush()
}

// maxRangeRemovals is how many elements replaceClient takes out of a set
// with concatenated ranges (a port or ICMP set) before it makes the set
// anew instead. The kernel takes each out of such a set (pipapo) at the
// commit by a scan of the whole set: for a set of a few thousand
// elements, three removals cost about as much as making it anew, and ten
// twice as much.
const maxRangeRemovals = 2

// concatenated reports whether sets of kind have concatenated ranges.
func concatenated(kind SetKind) bool { return kind == PortSet || kind == ICMPSet }

// sameType reports whether the kernel's set old is of the type that qfw
// makes s with: its flags and its key's type and length.
func sameType(old setInfo, s *Set) bool {
	ns := netlinkSet(s, nftTable())
	var flags uint32
	if ns.Interval {
		flags |= unix.NFT_SET_INTERVAL
	}
	if ns.IsMap {
		flags |= unix.NFT_SET_MAP
	}
	if ns.Concatenation {
		flags |= nftables.NFT_SET_CONCAT
	}
	return old.flags == flags && old.keyType == ns.KeyType.GetNFTMagic() && old.keyLen == ns.KeyType.Bytes
}

// renewGuard queues, last in a transaction that changes set elements, what
// makes the guard set anew: the kernel puts its element in force after
// those of every other set of the commit, and until then the guard chain
// drops every packet from clients (see baseChains). Every transaction that
// adds or deletes elements of a set with concatenated ranges (a port or
// ICMP set) must end with it.
func (b *batch) renewGuard(t *Table) error {
	i := slices.IndexFunc(t.Sets, func(s *Set) bool { return s.Kind == GuardSet })
	j := slices.IndexFunc(t.Chains, func(c *Chain) bool { return c.Name == guardName })
	if i < 0 || j < 0 {
		return fmt.Errorf("the table has no guard chain and set")
	}
	chain := &nftables.Chain{Name: guardName, Table: b.table}
	b.c.FlushChain(chain)
	b.c.DelSet(&nftables.Set{Name: guardName, Table: b.table})
	if err := b.addSet(t.Sets[i]); err != nil {
		return err
	}
	b.addRules(t.Chains[j], chain)
	return nil
}
