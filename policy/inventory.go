package policy

import (
	stdjson "encoding/json"
	stderrors "errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"
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

// inventoryKeys are the keys of one qube in an inventory file.
var inventoryKeys = []string{"class", "ip", "ip6", "netvm", "label", "tags", "provides_network"}

// loadInventory reads and checks the inventory file at path. It uses CUE's
// JSON decoder so that every error carries the file's line and column.
func (l *loader) loadInventory(path string) (*Inventory, error) {
	data, err := ReadInventoryFile(path)
	if err != nil {
		return nil, err
	}
	return l.parseInventory(path, data)
}

// ReadInventoryFile reads the inventory file at path, with an error that
// says how to make one where there is none.
func ReadInventoryFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	var pe *fs.PathError
	switch {
	case stderrors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read inventory: %s: no such file; write it with qfw inventory -o %s, or name the inventory with --inventory FILE", path, path)
	case stderrors.As(err, &pe):
		return nil, fmt.Errorf("read inventory: %s: %w", path, pe.Err)
	case err != nil:
		return nil, fmt.Errorf("read inventory: %w", err)
	}
	return data, nil
}

// parseInventory checks the inventory data read from path.
func (l *loader) parseInventory(path string, data []byte) (*Inventory, error) {
	expr, err := extractJSON(path, data)
	if err != nil {
		return nil, err
	}
	u := l.ctx.BuildExpr(expr)
	if err := u.Err(); err != nil {
		// JSON that CUE cannot hold, such as a string with a lone
		// surrogate: CUE's error has the position, the shape check
		// below would have none.
		var errs errors.Error
		for _, e := range errors.Errors(l.userErrors(err, u)) {
			errs = errors.Append(errs, prefixInventory(e))
		}
		return nil, errs
	}
	// The shape of the whole is checked first: CUE would say it with the
	// schema's words.
	if u.Kind() != cue.StructKind {
		return nil, Errorf(u.Pos(), "", `the inventory must be a JSON object such as {"qubes": {"work": {"ip": "10.137.0.11"}}}`)
	}
	if qv := u.LookupPath(cue.MakePath(cue.Str("qubes"))); qv.Exists() && qv.Kind() != cue.StructKind {
		return nil, Errorf(valuePos(qv), "inventory.qubes", `qubes must be an object of qubes keyed by name, such as {"work": {"ip": "10.137.0.11"}}`)
	}
	// Unknown keys are found here rather than by the closed schema, so
	// that a key that differs from a known one in case alone is named.
	keyErrs := inventoryKeyErrors(u)
	var typeErrs errors.Error
	v := u.Unify(l.schema.LookupPath(cue.ParsePath("#Inventory")))
	if err := v.Validate(cue.Concrete(true)); err != nil {
		for _, e := range errors.Errors(l.userErrors(err, u)) {
			if format, _ := e.Msg(); format != "field not allowed" {
				typeErrs = errors.Append(typeErrs, prefixInventory(e))
			}
		}
	}
	if typeErrs != nil {
		return nil, errors.Append(keyErrs, typeErrs)
	}
	// The keys the format lacks are reported, and the rest is checked
	// all the same.
	errs := keyErrs
	var raw InventoryFile
	if err := u.Decode(&raw); err != nil {
		// The schema has checked every type Decode could refuse.
		panic("qfw: decoding a checked inventory: " + err.Error())
	}
	// Decode matches keys as encoding/json does, whatever their case. A
	// key that differs from the format's in case alone is reported above;
	// its value is not the format's, and has no position under its name.
	// An address under such a key still counts as given.
	addrGiven := map[string]bool{}
	for name, e := range raw.Qubes {
		addrGiven[name] = e.IP != "" || e.IP6 != ""
		qv := u.LookupPath(cue.MakePath(cue.Str("qubes"), cue.Str(name)))
		if !qv.Exists() {
			delete(raw.Qubes, name)
			continue
		}
		has := func(key string) bool { return qv.LookupPath(cue.MakePath(cue.Str(key))).Exists() }
		for _, f := range []struct {
			key   string
			value *string
		}{{"class", &e.Class}, {"ip", &e.IP}, {"ip6", &e.IP6}, {"netvm", &e.Netvm}, {"label", &e.Label}} {
			if !has(f.key) {
				*f.value = ""
			}
		}
		if !has("tags") {
			e.Tags = nil
		}
		if !has("provides_network") {
			e.ProvidesNetwork = false
		}
		raw.Qubes[name] = e
	}
	inv := &Inventory{Path: path, Qubes: make(map[string]*InventoryQube, len(raw.Qubes))}
	qubePos := func(name string, field ...string) token.Pos {
		sels := []cue.Selector{cue.Str("qubes"), cue.Str(name)}
		for _, f := range field {
			sels = append(sels, cue.Str(f))
		}
		// The user's value: the unified one has the schema's positions.
		return valuePos(u.LookupPath(cue.MakePath(sels...)))
	}
	at := func(name, field, format string, args ...any) errors.Error {
		return Errorf(qubePos(name, field), Path("inventory", "qubes", name, field), format, args...)
	}
	// owner maps each address to the first qube, by name, that has it.
	owner := map[netip.Addr]string{}
	for _, name := range slices.Sorted(maps.Keys(raw.Qubes)) {
		r := raw.Qubes[name]
		if !IsQubeName(name) {
			format, args := qubeNameMsg(name)
			errs = errors.Append(errs, Errorf(qubePos(name), Path("inventory", "qubes", name), format, args...))
		}
		q := &InventoryQube{Name: name, Class: r.Class, Netvm: r.Netvm, Label: r.Label, Tags: r.Tags, ProvidesNetwork: r.ProvidesNetwork}
		for _, a := range []struct {
			field, text string
			ok          func(netip.Addr) bool
			to          *netip.Addr
		}{
			{"ip", r.IP, netip.Addr.Is4, &q.IP},
			{"ip6", r.IP6, func(a netip.Addr) bool { return a.Is6() && !a.Is4In6() && a.Zone() == "" }, &q.IP6},
		} {
			if a.text == "" {
				continue
			}
			addr, err := netip.ParseAddr(a.text)
			if err != nil || !a.ok(addr) {
				kind := "IPv4"
				if a.field == "ip6" {
					kind = "IPv6"
				}
				errs = errors.Append(errs, at(name, a.field, "%s %q is not an %s address", a.field, a.text, kind))
				continue
			}
			*a.to = addr
			// Two qubes with one address would share their QubesDB
			// entries in the netvm, and one's rules would govern both.
			if other, ok := owner[addr]; ok {
				errs = errors.Append(errs, ErrorfAlso(qubePos(name, a.field), []token.Pos{qubePos(other, a.field)},
					Path("inventory", "qubes", name, a.field), "%s %s is also the address of qube %q", a.field, addr, other))
				continue
			}
			owner[addr] = name
		}
		inv.Qubes[name] = q
	}
	for _, name := range inv.Names() {
		q := inv.Qubes[name]
		if (q.Netvm != "" || q.ProvidesNetwork) && !q.IP.IsValid() && !q.IP6.IsValid() && !addrGiven[name] {
			why := "has a netvm"
			if q.Netvm == "" {
				why = "provides network"
			}
			errs = errors.Append(errs, Errorf(qubePos(name), Path("inventory", "qubes", name),
				"qube %q %s but no address: give it ip, ip6 or both", name, why))
		}
		if q.Netvm == "" {
			continue
		}
		nv, ok := inv.Qubes[q.Netvm]
		switch {
		case q.Netvm == name:
			errs = errors.Append(errs, at(name, "netvm", "qube %q is its own netvm", name))
		case !ok:
			errs = errors.Append(errs, at(name, "netvm", "netvm %q is not in the inventory", q.Netvm))
		case !nv.ProvidesNetwork:
			errs = errors.Append(errs, at(name, "netvm", "netvm %q does not provide network", q.Netvm))
		default:
			if loop := netvmLoop(inv, name); loop != nil {
				errs = errors.Append(errs, at(name, "netvm", "netvm loop: %s", strings.Join(loop, " -> ")))
			}
		}
	}
	if errs != nil {
		return nil, errs
	}
	return inv, nil
}

// netvmLoop returns the loop that the netvm chain from start runs into,
// from its first name back to it, if start is its first name in sorted
// order, and nil otherwise: a loop is reported once, at its first qube.
func netvmLoop(inv *Inventory, start string) []string {
	seen := map[string]bool{}
	var chain []string
	for n := start; n != ""; {
		if seen[n] {
			i := slices.Index(chain, n)
			loop := append(chain[i:], n)
			if n != start || slices.Min(loop) != start {
				return nil
			}
			return loop
		}
		seen[n] = true
		chain = append(chain, n)
		q, ok := inv.Qubes[n]
		if !ok {
			return nil
		}
		n = q.Netvm
	}
	return nil
}

// inventoryKeyErrors reports the keys of inventory value u that the
// format lacks, naming the key meant where one differs in case alone.
func inventoryKeyErrors(u cue.Value) errors.Error {
	var errs errors.Error
	unknown := func(v cue.Value, path []any, name string, known []string) {
		format, args := notAllowed(name, known)
		if format != "field not allowed" {
			format = "field not allowed; the key is %q"
		}
		errs = errors.Append(errs, Errorf(v.Pos(), Path(append(path, name)...), format, args...))
	}
	top, err := u.Fields(cue.Optional(true))
	if err != nil {
		return nil // not an object: the schema says so
	}
	for top.Next() {
		name := top.Selector().Unquoted()
		if name != "qubes" {
			unknown(top.Value(), []any{"inventory"}, name, []string{"qubes"})
			continue
		}
		qubes, err := top.Value().Fields(cue.Optional(true))
		for err == nil && qubes.Next() {
			qname := qubes.Selector().Unquoted()
			fields, err := qubes.Value().Fields(cue.Optional(true))
			for err == nil && fields.Next() {
				if f := fields.Selector().Unquoted(); !slices.Contains(inventoryKeys, f) {
					unknown(fields.Value(), []any{"inventory", "qubes", qname}, f, inventoryKeys)
				}
			}
		}
	}
	return errs
}

// prefixInventory returns e with its path under inventory, as the policy
// sees it.
func prefixInventory(e errors.Error) errors.Error {
	pe, ok := e.(*posError)
	if !ok {
		return e
	}
	c := *pe
	c.path, c.rawPath = append([]string{"inventory"}, pe.elems()...), ""
	return &c
}

// file returns the inventory in the file format, as qfw inventory writes
// it: tags always given, as the format has no null.
func (inv *Inventory) file() InventoryFile {
	f := InventoryFile{Qubes: make(map[string]InventoryEntry, len(inv.Qubes))}
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
		f.Qubes[name] = e
	}
	return f
}

// cue returns the inventory as CUE source for the policy to read, with every
// field present so that a comprehension can test any field of any qube.
func (inv *Inventory) cue() string {
	// Marshalling a map sorts its keys, so the source is deterministic.
	b, err := stdjson.MarshalIndent(inv.file(), "", "\t")
	if err != nil {
		panic(err) // only strings, bools and slices of strings
	}
	return string(b)
}

// CheckInventory checks an inventory read live, from qubesd, as Load
// checks an inventory file: what qubesd says enters qfw here, and what a
// file could not hold, qubesd may not either. Its errors name the qube and
// field, at no position: the inventory has no file yet.
func CheckInventory(f *InventoryFile) errors.Error {
	b, err := stdjson.Marshal(f)
	if err != nil {
		return errors.Promote(err, "")
	}
	_, err = newLoader().parseInventory("", b)
	if err == nil {
		return nil
	}
	var out errors.Error
	for _, e := range errors.Errors(err) {
		if pe, ok := e.(*posError); ok {
			c := *pe
			c.pos, c.inputs = token.NoPos, nil
			e = &c
		}
		out = errors.Append(out, e)
	}
	return out
}
