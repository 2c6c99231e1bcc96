package agent

import (
	"os"

	"github.com/qfw-dev/qfw/backends/nftables"
)

// Kernel is where the agent's table is in force.
type Kernel interface {
	// Apply replaces the whole table, as [nftables.Apply].
	Apply(t *nftables.Table) (nftables.Change, error)
	// UpdateClient replaces one client's part of the table, as
	// [nftables.UpdateClient].
	UpdateClient(t *nftables.Table, client string) (nftables.Change, error)
	// UpdateElements changes the table from old to new, which differ in
	// set elements only, as [nftables.UpdateElements]: an error wrapping
	// [nftables.ErrNotElementOnly] changed nothing.
	UpdateElements(old, new *nftables.Table) (nftables.Change, error)
	// Purge ends the connections that clients' lists forbid, as
	// [nftables.Purge].
	Purge(clients []nftables.Client, opts nftables.Options) (int, error)
}

// NetNS is the kernel of a network namespace, with qfw's nftables
// backend: the namespace File is, or the process's own if File is nil.
type NetNS struct{ File *os.File }

func (n NetNS) Apply(t *nftables.Table) (nftables.Change, error) { return nftables.Apply(t, n.File) }

func (n NetNS) UpdateClient(t *nftables.Table, client string) (nftables.Change, error) {
	return nftables.UpdateClient(t, client, n.File)
}

func (n NetNS) UpdateElements(old, new *nftables.Table) (nftables.Change, error) {
	return nftables.UpdateElements(old, new, n.File)
}

func (n NetNS) Purge(clients []nftables.Client, opts nftables.Options) (int, error) {
	return nftables.Purge(clients, opts, n.File)
}
