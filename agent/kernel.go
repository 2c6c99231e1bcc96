package agent

import (
	"errors"
	"os"

	"github.com/qfw-dev/qfw/backends/nftables"
	"golang.org/x/sys/unix"
)

// Kernel is where the agent's table is in force.
type Kernel interface {
	// Apply replaces the whole table, as [nftables.Apply].
	Apply(t *nftables.Table) (nftables.Change, error)
	// UpdateClient replaces one client's part of the table, as
	// [nftables.UpdateClient].
	UpdateClient(t *nftables.Table, client string) (nftables.Change, error)
	// UpdateClientElements changes one client's part of the table from
	// old to new, which differ in its sets' elements only, as
	// [nftables.UpdateClientElements]: an error wrapping
	// [nftables.ErrNotElementOnly] changed nothing.
	UpdateClientElements(old, new *nftables.Table, client string) (nftables.Change, error)
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

// ErrNotNetNS is OpenNetNS's error for a file that is not a network
// namespace.
var ErrNotNetNS = errors.New("not a network namespace; want a file such as /run/netns/NAME")

// OpenNetNS opens the network namespace of the file at path, such as
// /run/netns/NAME, and checks that it is one: else every apply would
// fail, and be retried, for ever.
func OpenNetNS(path string) (NetNS, error) {
	f, err := os.Open(path)
	if err != nil {
		return NetNS{}, err
	}
	if typ, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE); err != nil || typ != unix.CLONE_NEWNET {
		f.Close()
		return NetNS{}, ErrNotNetNS
	}
	return NetNS{File: f}, nil
}

func (n NetNS) Apply(t *nftables.Table) (nftables.Change, error) { return nftables.Apply(t, n.File) }

func (n NetNS) UpdateClient(t *nftables.Table, client string) (nftables.Change, error) {
	return nftables.UpdateClient(t, client, n.File)
}

func (n NetNS) UpdateClientElements(old, new *nftables.Table, client string) (nftables.Change, error) {
	return nftables.UpdateClientElements(old, new, client, n.File)
}

func (n NetNS) UpdateElements(old, new *nftables.Table) (nftables.Change, error) {
	return nftables.UpdateElements(old, new, n.File)
}

func (n NetNS) Purge(clients []nftables.Client, opts nftables.Options) (int, error) {
	return nftables.Purge(clients, opts, n.File)
}
