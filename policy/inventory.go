package policy

import (
	stdjson "encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"slices"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/errors"
)

// Inventory describes the qubes of one Qubes machine: what the Admin API
// tells about each, read from a JSON file so that a policy can be compiled
// without Qubes.
type Inventory struct {
	// Path is the file the inventory was read from.
	Path string
	// Qubes maps a qube's name to its properties.
	Qubes map[string]*InventoryQube
}

// InventoryQube holds the properties qfw needs of one qube.
type InventoryQube struct {
	Name  string
	Class string
	// IP and IP6 are the qube's addresses, the zero Addr if it has none.
	IP, IP6         netip.Addr
	Netvm           string
	Label           string
	Tags            []string
	ProvidesNetwork bool
}

// Names returns the inventory's qube names, sorted.
func (inv *Inventory) Names() []string {
	return slices.Sorted(maps.Keys(inv.Qubes))
}

// InventoryFile is the inventory's file format, as qfw inventory writes it.
type InventoryFile struct {
	Qubes map[string]InventoryEntry `json:"qubes"`
}

// InventoryEntry is one qube of an inventory file.
type InventoryEntry struct {
	Class           string   `json:"class"`
	IP              string   `json:"ip"`
	IP6             string   `json:"ip6"`
	Netvm           string   `json:"netvm"`
	Label           string   `json:"label"`
	Tags            []string `json:"tags"`
	ProvidesNetwork bool     `json:"provides_network"`
}

// loadInventory reads and checks the inventory file at path. It uses CUE's
// JSON decoder so that every error carries the file's line and column.
func (l *loader) loadInventory(path string) (*Inventory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read inventory: %w", err)
	}
	expr, err := extractJSON(path, data)
	if err != nil {
		return nil, err
	}
	v := l.ctx.BuildExpr(expr).Unify(l.schema.LookupPath(cue.ParsePath("#Inventory")))
	if err := v.Validate(cue.Concrete(true)); err != nil {
		return nil, l.userErrors(err, v)
	}
	var raw InventoryFile
	if err := v.Decode(&raw); err != nil {
		return nil, err
	}
	inv := &Inventory{Path: path, Qubes: make(map[string]*InventoryQube, len(raw.Qubes))}
	var errs errors.Error
	for _, name := range slices.Sorted(maps.Keys(raw.Qubes)) {
		r := raw.Qubes[name]
		q := &InventoryQube{Name: name, Class: r.Class, Netvm: r.Netvm, Label: r.Label, Tags: r.Tags, ProvidesNetwork: r.ProvidesNetwork}
		qv := v.LookupPath(cue.MakePath(cue.Str("qubes"), cue.Str(name)))
		at := func(field, format string, args ...any) errors.Error {
			return Errorf(qv.LookupPath(cue.ParsePath(field)).Pos(), Path("inventory", "qubes", name, field), format, args...)
		}
		if r.IP != "" {
			a, err := netip.ParseAddr(r.IP)
			if err != nil || !a.Is4() {
				errs = errors.Append(errs, at("ip", "ip %q is not an IPv4 address", r.IP))
			}
			q.IP = a
		}
		if r.IP6 != "" {
			a, err := netip.ParseAddr(r.IP6)
			if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
				errs = errors.Append(errs, at("ip6", "ip6 %q is not an IPv6 address", r.IP6))
			}
			q.IP6 = a
		}
		inv.Qubes[name] = q
	}
	for _, name := range inv.Names() {
		q := inv.Qubes[name]
		if q.Netvm == "" {
			continue
		}
		nv, ok := inv.Qubes[q.Netvm]
		pos := v.LookupPath(cue.MakePath(cue.Str("qubes"), cue.Str(name), cue.Str("netvm"))).Pos()
		switch {
		case !ok:
			errs = errors.Append(errs, Errorf(pos, Path("inventory", "qubes", name, "netvm"), "netvm %q is not in the inventory", q.Netvm))
		case !nv.ProvidesNetwork:
			errs = errors.Append(errs, Errorf(pos, Path("inventory", "qubes", name, "netvm"), "netvm %q does not provide network", q.Netvm))
		}
	}
	if errs != nil {
		return nil, errs
	}
	return inv, nil
}

// cue returns the inventory as CUE source for the policy to read, with every
// field present so that a comprehension can test any field of any qube.
func (inv *Inventory) cue() string {
	qubes := make(map[string]InventoryEntry, len(inv.Qubes))
	for name, q := range inv.Qubes {
		e := InventoryEntry{Class: q.Class, Netvm: q.Netvm, Label: q.Label, Tags: q.Tags, ProvidesNetwork: q.ProvidesNetwork}
		if e.Tags == nil {
			e.Tags = []string{}
		}
		if q.IP.IsValid() {
			e.IP = q.IP.String()
		}
		if q.IP6.IsValid() {
			e.IP6 = q.IP6.String()
		}
		qubes[name] = e
	}
	// Marshalling a map sorts its keys, so the source is deterministic.
	b, err := stdjson.MarshalIndent(InventoryFile{Qubes: qubes}, "", "\t")
	if err != nil {
		panic(err) // only strings, bools and slices of strings
	}
	return string(b)
}
