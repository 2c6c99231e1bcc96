package adminapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/qfw-dev/qfw/policy"
)

// VM is one line of admin.vm.List.
type VM struct {
	Name, Class, State string
}

// List returns every qube the caller may see, sorted by name as qubesd
// sorts them.
func (c *Client) List(ctx context.Context) ([]VM, error) {
	b, err := c.Call(ctx, "admin.vm.List", "", "dom0", nil)
	if err != nil {
		return nil, err
	}
	var out []VM
	seen := make(map[string]bool)
	for _, line := range lines(string(b)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		vm := VM{Name: fields[0]}
		if seen[vm.Name] {
			// One of the two would be dropped from what qfw reads.
			return nil, fmt.Errorf("admin.vm.List: qubesd lists qube %q twice", vm.Name)
		}
		seen[vm.Name] = true
		// Unknown fields, such as uuid= on 4.3, are skipped.
		for _, f := range fields[1:] {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "class":
				vm.Class = v
			case "state":
				vm.State = v
			}
		}
		out = append(out, vm)
	}
	return out, nil
}

// Property returns the value of qube's property name, as text: empty for
// none.
func (c *Client) Property(ctx context.Context, qube, name string) (string, error) {
	b, err := c.Call(ctx, "admin.vm.property.Get", name, qube, nil)
	if err != nil {
		return "", err
	}
	// "default=<bool> type=<type> <value>": the value may hold spaces.
	parts := strings.SplitN(string(b), " ", 3)
	if len(parts) < 3 || !strings.HasPrefix(parts[0], "default=") || !strings.HasPrefix(parts[1], "type=") {
		return "", fmt.Errorf("admin.vm.property.Get %s of %s: malformed answer %q", name, qube, b)
	}
	return parts[2], nil
}

// Tags returns qube's tags, sorted.
func (c *Client) Tags(ctx context.Context, qube string) ([]string, error) {
	b, err := c.Call(ctx, "admin.vm.tag.List", "", qube, nil)
	if err != nil {
		return nil, err
	}
	return lines(string(b)), nil
}

// InventoryProperties are the properties Inventory reads of each qube.
var InventoryProperties = []string{"ip", "ip6", "label", "netvm", "provides_network"}

// Inventory reads what qfw needs to know of every qube the caller may
// see: its class, addresses, netvm, label, tags and whether it provides
// network. dom0 and remote qubes have no network, and are left out.
func (c *Client) Inventory(ctx context.Context) (*policy.InventoryFile, error) {
	vms, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	inv := &policy.InventoryFile{Qubes: map[string]policy.InventoryEntry{}}
	var errs []error
	for _, vm := range vms {
		if vm.Class == "AdminVM" || vm.Class == "RemoteVM" {
			continue
		}
		e := policy.InventoryEntry{Class: vm.Class}
		var pn string
		props := map[string]*string{"netvm": &e.Netvm, "ip": &e.IP, "ip6": &e.IP6, "label": &e.Label, "provides_network": &pn}
		for _, name := range InventoryProperties {
			v, err := c.Property(ctx, vm.Name, name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			*props[name] = v
		}
		e.ProvidesNetwork = pn == "True"
		var err error
		if e.Tags, err = c.Tags(ctx, vm.Name); err != nil {
			errs = append(errs, err)
		}
		if e.Tags == nil {
			e.Tags = []string{}
		}
		// JSON cannot write such a string: it would put U+FFFD in its
		// place, and the inventory would silently differ from dom0.
		for _, v := range append([]string{vm.Name, e.Class, e.IP, e.IP6, e.Netvm, e.Label}, e.Tags...) {
			if !utf8.ValidString(v) {
				errs = append(errs, fmt.Errorf("qube %q: qubesd answered %q, which is not UTF-8", vm.Name, v))
				break
			}
		}
		inv.Qubes[vm.Name] = e
	}
	return inv, errors.Join(errs...)
}
