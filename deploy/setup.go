package deploy

import (
	"cmp"
	"fmt"
	"io"
	"slices"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/backends/qubes/adminapi"
	"github.com/qfw-dev/qfw/backends/qubes/qrexecpolicy"
)

// QrexecPolicy returns the dom0 qrexec policy file, as qfw setup
// qrexec-policy prints it, that lets the management qube mgmt run qfw with
// --qrexec: the reads of qfw inventory and import, and, unless res is nil,
// what qfw does to the qubes of the built policy res (see addGrants). A
// mgmt that res's inventory does not hold is warned of to warnings.
func QrexecPolicy(mgmt string, res *Built, warnings io.Writer) ([]byte, error) {
	g := qrexecpolicy.Grants{Mgmt: mgmt, Properties: adminapi.InventoryProperties}
	if res != nil {
		if _, ok := res.Inventory.Qubes[mgmt]; !ok {
			fmt.Fprintf(warnings, "qfw: warning: --mgmt %s: no such qube in the inventory\n", mgmt)
		}
		if err := addGrants(res, &g); err != nil {
			return nil, err
		}
	}
	file, err := qrexecpolicy.Generate(g)
	if err != nil {
		return nil, err
	}
	return file.Format(), nil
}

// addGrants adds to g what qfw does to the qubes of the built policy res:
// the qubes it tags and sets the lists of, and the unikernel firewall
// qubes it provisions.
func addGrants(res *Built, g *qrexecpolicy.Grants) error {
	g.Manage, g.Tag = true, ManagedTag
	for _, q := range res.Program.Qubes {
		g.Tagged = append(g.Tagged, q.Name)
	}
	// A qube that left the policy keeps its tag until apply --release or
	// --reset; a revert of --reset tags it again.
	for _, name := range res.Inventory.Names() {
		if slices.Contains(res.Inventory.Qubes[name].Tags, ManagedTag) {
			g.Tagged = append(g.Tagged, name)
		}
	}
	for _, fw := range res.Program.Firewalls {
		p := fw.Provision
		if p == nil {
			continue
		}
		// The state plan brings the qube to: its properties and features
		// are those provisioning reads and sets.
		rel, err := mirage.LookupRelease(fw.MirageVersion)
		if err != nil {
			return fmt.Errorf("firewall qube %s: %w", fw.Name, err)
		}
		want, err := mirage.Desired(fw.Name, cmp.Or(p.KernelDir, mirage.DefaultKernel), fw.Netvm, cmp.Or(p.Label, mirage.DefaultLabel), rel)
		if err != nil {
			return fmt.Errorf("firewall qube %s: %w", fw.Name, err)
		}
		q := qrexecpolicy.Firewall{Name: fw.Name, Class: want.Class}
		for _, s := range want.Properties {
			q.Properties = append(q.Properties, s.Name)
		}
		for _, s := range want.Features {
			q.Features = append(q.Features, s.Name)
		}
		g.Firewalls = append(g.Firewalls, q)
	}
	return nil
}
