package nftables

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
)

// ErrNotElementOnly says that UpdateElements cannot go from one table to
// the other: they differ in more than set elements and chains' digests,
// or the kernel does not hold the old one. The caller applies the client
// (UpdateClient) or the whole table (Apply) instead.
var ErrNotElementOnly = errors.New("the tables differ in more than set elements")

// setChange is what changes in one set: the elements to take out and to
// put in.
type setChange struct {
	set          *Set
	gone, gained []Element
}

// elementChanges returns what going from old to new changes, if the two
// differ only in set elements and in the digests on their chains' last
// rules: the sets' changes, and the chains whose digests change.
func elementChanges(old, new *Table) ([]setChange, []*Chain, error) {
	notOnly := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrNotElementOnly)
	}
	if len(old.Sets) != len(new.Sets) || len(old.Chains) != len(new.Chains) {
		return nil, nil, notOnly("the tables have different sets or chains")
	}
	var sets []setChange
	for i, n := range new.Sets {
		o := old.Sets[i]
		if o.Name != n.Name || o.Family != n.Family || o.Kind != n.Kind {
			return nil, nil, notOnly("set %s is not set %s", n.Name, o.Name)
		}
		c := changeOf(n, o.Elements)
		if c.gone != nil || c.gained != nil {
			sets = append(sets, c)
		}
	}
	var chains []*Chain
	for i, n := range new.Chains {
		o := old.Chains[i]
		if o.Name != n.Name || o.Hook != n.Hook || len(o.Rules) != len(n.Rules) || len(n.Rules) == 0 {
			return nil, nil, notOnly("chain %s is not chain %s", n.Name, o.Name)
		}
		for k := range n.Rules {
			if ruleText(o.Rules[k]) != ruleText(n.Rules[k]) || k < len(n.Rules)-1 && o.Rules[k].Comment != n.Rules[k].Comment {
				return nil, nil, notOnly("rule %d of chain %s changes", k, n.Name)
			}
		}
		if last := len(n.Rules) - 1; o.Rules[last].Comment != n.Rules[last].Comment {
			chains = append(chains, n)
		}
	}
	return sets, chains, nil
}

// changeOf returns what going from elements old to set s's changes.
func changeOf(s *Set, old []Element) setChange {
	in := func(elems []Element) map[Element]bool {
		m := make(map[Element]bool, len(elems))
		for _, e := range elems {
			m[e] = true
		}
		return m
	}
	inOld, inNew := in(old), in(s.Elements)
	c := setChange{set: s}
	for _, e := range old {
		if !inNew[e] {
			c.gone = append(c.gone, e)
		}
	}
	for _, e := range s.Elements {
		if !inOld[e] {
			c.gained = append(c.gained, e)
		}
	}
	return c
}

// ruleText renders a rule without its comment.
func ruleText(r Rule) string {
	parts := make([]string, len(r.Exprs))
	for i, e := range r.Exprs {
		parts[i] = e.text(r.Family)
	}
	return fmt.Sprintf("%d %s", r.Family, strings.Join(parts, " "))
}

// UpdateElements changes the kernel from old (what it holds, as applied)
// to new, where the two differ only in set elements and chains' digests,
// as when a host name's addresses change: in one netlink transaction it
// takes the elements that go out of their sets, puts the new ones in, and
// replaces the last rule of each chain whose digest changes with the same
// rule bearing the new digest. No chain is made again, and no other rule
// is touched. It returns ErrNotElementOnly, having changed nothing, when
// the tables differ in more, or the kernel's chains are not old's. Like
// Apply, it reads the result back: if the kernel refuses the transaction,
// old stays in force, and if it holds anything else than new, the table
// is locked down (ErrLockedDown).
func UpdateElements(old, new *Table, netns *os.File) (Change, error) {
	sets, chains, err := elementChanges(old, new)
	if err != nil {
		return Change{}, fmt.Errorf("update elements: %w", err)
	}
	var change Change
	err = withLock(netns, func() error {
		change, err = updateElements(old, new, sets, chains, netns)
		return err
	})
	return change, err
}

// UpdateClientElements is UpdateElements for client's part of the table:
// old and new are tables of client, as UpdateClient takes them, old the
// one last put in force for it, and new differs from it only in the
// elements of client's sets and its chains' digests, as when a commit
// moves a rule of a long list between ranges that its steps already hold.
// The client's chains keep their rules but the last: no set's binding to
// its rules changes, which the kernel makes costly, and no set of the
// client is read before. It returns ErrNotElementOnly, having changed
// nothing, when new differs from old in more, or the kernel's chains of
// old (the client's and the base chains) are not old's. Like
// UpdateClient, it reads back every chain and the sets it changes.
func UpdateClientElements(old, new *Table, client string, netns *os.File) (Change, error) {
	sets, chains, err := elementChanges(old, new)
	if err == nil {
		for _, s := range sets {
			if !ownsSet(s.set.Name, client) {
				err = fmt.Errorf("set %s, not the client's, changes: %w", s.set.Name, ErrNotElementOnly)
				break
			}
		}
	}
	if err != nil {
		return Change{}, fmt.Errorf("update client %s elements: %w", client, err)
	}
	var change Change
	err = withLock(netns, func() error {
		touched := clientScope(new, client)
		before, err := read(netns, func(name string) bool { return touched(name) && !ownsSet(name, client) })
		if err != nil {
			return err
		}
		if before == nil {
			return fmt.Errorf("update client %s elements: qfw's table is not there: %w", client, ErrNotElementOnly)
		}
		for name, cs := range old.State().Chains {
			if before.Chains[name] != cs {
				return fmt.Errorf("update client %s elements: chain %s in force is not the old one: %w", client, name, ErrNotElementOnly)
			}
		}
		if len(sets) == 0 && len(chains) == 0 {
			change = Diff(before, before)
			return nil
		}
		// The client maps stay as they are; the guard set is made anew.
		want := &State{Chains: maps.Clone(before.Chains), Sets: maps.Clone(before.Sets)}
		for _, ch := range new.Chains {
			want.Chains[ch.Name] = ChainState{Rules: len(ch.Rules), Digest: ch.Rules[len(ch.Rules)-1].Comment}
		}
		for _, s := range new.Sets {
			if ownsSet(s.Name, client) || s.Kind == GuardSet {
				want.Sets[s.Name] = len(s.Elements)
			}
		}
		flushErr := sendElements(sets, chains, old, new, netns)
		change, err = settle(netns, before, want, touched, flushErr, "update client "+client+" elements")
		return err
	})
	return change, err
}

func updateElements(old, new *Table, sets []setChange, chains []*Chain, netns *os.File) (Change, error) {
	before, err := read(netns, nil)
	if err != nil {
		return Change{}, err
	}
	if before == nil || !before.sameChains(old.State()) {
		return Change{}, fmt.Errorf("update elements: the table in force is not the old one: %w", ErrNotElementOnly)
	}
	if len(sets) == 0 && len(chains) == 0 {
		return Diff(before, before), nil
	}
	flushErr := sendElements(sets, chains, old, new, netns)
	return settle(netns, before, new.State(), allSets, flushErr, "update elements")
}

// sendElements sends the transaction of UpdateElements.
func sendElements(sets []setChange, chains []*Chain, old, new *Table, netns *os.File) error {
	c, err := dial(netns, false)
	if err != nil {
		return err
	}
	table := nftTable()
	// The handles of the digest rules to replace, read first: the
	// transaction replaces each by its handle.
	oldDigest := map[string]string{}
	for _, ch := range old.Chains {
		oldDigest[ch.Name] = ch.Rules[len(ch.Rules)-1].Comment
	}
	handles := make([]uint64, len(chains))
	for i, ch := range chains {
		rules, err := c.GetRules(table, &nftables.Chain{Name: ch.Name, Table: table})
		if err != nil {
			return fmt.Errorf("read nftables chain %s: %w", ch.Name, err)
		}
		if len(rules) != len(ch.Rules) {
			return fmt.Errorf("chain %s has %d rules in the kernel; want %d", ch.Name, len(rules), len(ch.Rules))
		}
		last := rules[len(rules)-1]
		if digest, _ := userdata.GetString(last.UserData, userdata.TypeComment); digest != oldDigest[ch.Name] {
			return fmt.Errorf("chain %s's last rule is not its digest %q in the kernel", ch.Name, oldDigest[ch.Name])
		}
		handles[i] = last.Handle
	}
	// Out with the old elements first, so that a new range may overlap
	// one that goes.
	for _, s := range sets {
		if err := sendChunks(s.set, s.gone, table, c.SetDeleteElements); err != nil {
			return err
		}
	}
	for _, s := range sets {
		if err := sendChunks(s.set, s.gained, table, c.SetAddElements); err != nil {
			return err
		}
	}
	for i, ch := range chains {
		r := ch.Rules[len(ch.Rules)-1]
		ctx := &ruleCtx{family: r.Family}
		var exprs []expr.Any
		for _, e := range r.Exprs {
			exprs = append(exprs, e.netlink(ctx)...)
		}
		c.ReplaceRule(&nftables.Rule{
			Table: table, Chain: &nftables.Chain{Name: ch.Name, Table: table}, Exprs: exprs, Handle: handles[i],
			UserData: userdata.AppendString(nil, userdata.TypeComment, r.Comment),
		})
	}
	// The port and ICMP sets' new elements come into force last in the
	// commit: the guard holds clients' new packets until they have.
	b := &batch{c: c, table: table, sets: map[string]*nftables.Set{}}
	if err := b.renewGuard(new); err != nil {
		return err
	}
	return c.Flush()
}

// sendChunks queues elems of set s with send (adding or deleting them), in
// messages small enough for one netlink attribute each (see addSet).
func sendChunks(s *Set, elems []Element, table *nftables.Table, send func(*nftables.Set, []nftables.SetElement) error) error {
	if len(elems) == 0 {
		return nil
	}
	part := &Set{Name: s.Name, Family: s.Family, Kind: s.Kind, Elements: elems}
	nl := netlinkElements(part)
	if s.Kind == VerdictMap {
		// An element is known by its key alone.
		for i := range nl {
			nl[i].VerdictData = nil
		}
	}
	ns := netlinkSet(part, table)
	chunk := elementsPerMessage(s)
	for len(nl) > 0 {
		n := min(chunk, len(nl))
		// An interval's start and end go in the same message.
		if n < len(nl) && nl[n].IntervalEnd {
			n++
		}
		if err := send(ns, slices.Clip(nl[:n])); err != nil {
			return fmt.Errorf("set %s: %w", s.Name, err)
		}
		nl = nl[n:]
	}
	return nil
}
