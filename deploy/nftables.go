package deploy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"github.com/qfw-dev/qfw/backends/nftables"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/policy"
)

// nftablesFiles renders qfw's table for each nftables firewall qube (or
// the one only names), the files of qfw compile --target nftables, with
// names resolved from the policy alone, so that the same policy gives the
// same script. dns, if not nil, are the DNS servers; warnings go to warn.
func nftablesFiles(prog *ir.Program, only string, dns []netip.Addr, now int64, warn io.Writer) ([]OutFile, error) {
	fws, err := backendFirewalls(prog, only, ir.Nftables, `"nftables"`)
	if err != nil {
		return nil, err
	}
	var out []OutFile
	for _, fw := range fws {
		clients, opts := nftInput(prog, fw, dns, now, eval.Table(prog.Resolve))
		warnNoDNS(warn, fw.Name, opts)
		table, blocked := nftables.Lower(clients, opts)
		var msgs []string
		for _, b := range blocked {
			// An allow to a pinned name without an address in the family
			// matches nothing, as compiling the policy warned.
			if _, pinned := prog.Resolve[b.Host]; !b.Skipped || !pinned {
				msgs = append(msgs, fmt.Sprintf("%s (IPv%d): %s", b.Client, b.Family, b.Host))
			}
		}
		if len(msgs) > 0 {
			return nil, fmt.Errorf("%s: host names not pinned in resolve, or pinned without an address in a family the qube has: %s; pin them, or use qfw apply, which resolves them live", fw.Name, strings.Join(msgs, ", "))
		}
		text := table.Text()
		out = append(out, OutFile{
			Name: fw.Name + ".nft", Header: fw.Name + " (nftables)", Text: text,
			JSON: map[string]any{"name": fw.Name, "backend": "nftables", "nft": string(text)},
		})
	}
	return out, nil
}

// NftablesOptions say which firewall qube's table [PrepareNftables]
// lowers, and how.
type NftablesOptions struct {
	// Firewall is the firewall qube.
	Firewall string
	// Qube, if set, updates only that client of the firewall qube.
	Qube string
	// DNS, if not nil, are the DNS servers, in place of Qubes' virtual
	// ones.
	DNS []netip.Addr
	// LiveResolve resolves host names with the system's resolver, as the
	// Linux agent does, rather than from the policy's resolve section.
	LiveResolve bool
	// Now is the time rule expiry is judged at.
	Now time.Time
	// Warnings gets the warnings about the firewall qube's setup.
	Warnings io.Writer
}

// NftablesApply is one firewall qube's table, lowered and ready to put in
// force.
type NftablesApply struct {
	fw      string
	qube    string
	clients []nftables.Client
	opts    nftables.Options
	table   *nftables.Table
}

// PrepareNftables lowers the table of the firewall qube o names, from the
// built policy res, and returns it with the warnings about it: a host
// name without an address in a family, which blocks or empties a rule,
// and the earliest expiry, which the table does not enforce.
func PrepareNftables(res *Built, o *NftablesOptions) (*NftablesApply, []errors.Error, error) {
	prog := res.Program
	fws, err := backendFirewalls(prog, o.Firewall, ir.Nftables, `"nftables"`)
	if err != nil {
		return nil, nil, err
	}
	fw := fws[0]
	var resolver eval.Resolver = eval.Table(prog.Resolve)
	if o.LiveResolve {
		// Once per name and family: the table and the purge of
		// connections must judge by the same addresses.
		resolver = &cachedResolver{next: liveResolver{}, seen: map[string][]netip.Addr{}}
	}
	clients, opts := nftInput(prog, fw, o.DNS, o.Now.Unix(), resolver)
	warnNoDNS(o.Warnings, fw.Name, opts)
	if o.Qube != "" && !hasClient(clients, o.Qube) {
		return nil, nil, fmt.Errorf("--qube %s: not a client of %s in the policy", o.Qube, fw.Name)
	}
	table, blocked := nftables.Lower(clients, opts)
	var warnings []errors.Error
	for _, b := range blocked {
		if _, pinned := prog.Resolve[b.Host]; pinned && !o.LiveResolve {
			continue // compiling the policy warned about it already
		}
		r := blockedRule(clients, b)
		what := fmt.Sprintf("%s rejects all of %s's IPv%d traffic", fw.Name, b.Client, b.Family)
		if b.Skipped {
			what = fmt.Sprintf("the rule allows none of %s's IPv%d traffic", b.Client, b.Family)
		}
		warnings = append(warnings, policy.Errorf(r.Origin.Pos, policy.Path("qubes", b.Client, r.Origin.Kind.String(), r.Origin.Name),
			"%s has no IPv%d address, so %s", b.Host, b.Family, what))
	}
	if at := earliestExpiry(clients); at != 0 {
		warnings = append(warnings, policy.Errorf(token.NoPos, "", "a rule for %s expires at %s; run qfw apply again then, as the table does not expire it",
			fw.Name, time.Unix(at, 0).UTC().Format(time.RFC3339)))
	}
	return &NftablesApply{fw: fw.Name, qube: o.Qube, clients: clients, opts: opts, table: table}, warnings, nil
}

// Apply puts the table in force in one netlink transaction, in the
// network namespace netns (a name under /run/netns) if not empty, then
// ends the connections the new rules forbid. It reports both to w.
func (a *NftablesApply) Apply(netns string, w io.Writer) error {
	var ns *os.File
	if netns != "" {
		var err error
		if ns, err = os.Open("/run/netns/" + netns); err != nil {
			return fmt.Errorf("--netns %s: %w", netns, err)
		}
		defer ns.Close()
	}
	var change nftables.Change
	var err error
	if a.qube != "" {
		change, err = nftables.UpdateClient(a.table, a.qube, ns)
	} else {
		change, err = nftables.Apply(a.table, ns)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", a.fw, err)
	}
	fmt.Fprintf(w, "%s: table inet %s applied: %s\n", a.fw, nftables.TableName, change)
	// Connections the old rules allowed would outlive the new ones. All
	// clients', even with a qube: an apply killed before its purge may
	// have left any client's.
	n, err := nftables.Purge(a.clients, a.opts, ns)
	if n > 0 {
		fmt.Fprintf(w, "%s: ended %d connections that the new rules forbid\n", a.fw, n)
	}
	if err != nil {
		return fmt.Errorf("%s: the new rules are in force, but connections they forbid may go on: %w", a.fw, err)
	}
	return nil
}

// nftInput gathers what the nftables backend needs for firewall fw: its
// clients and its options, with dns as its DNS servers if given.
func nftInput(prog *ir.Program, fw ir.Firewall, dns []netip.Addr, now int64, res eval.Resolver) ([]nftables.Client, nftables.Options) {
	opts := nftables.DefaultOptions(fw)
	opts.Resolver = res
	if dns != nil {
		opts.DNS4, opts.DNS6 = nil, nil
		for _, a := range dns {
			if a.Is4() {
				opts.DNS4 = append(opts.DNS4, a)
			} else {
				opts.DNS6 = append(opts.DNS6, a)
			}
		}
	}
	return nftables.Clients(prog, fw.Name, now), opts
}

// backendFirewalls returns the firewall qubes that --firewall only names,
// or every one with backend b if only is empty; setting is how the policy
// gives a firewall qube that backend, for the error messages.
func backendFirewalls(prog *ir.Program, only string, b ir.Backend, setting string) ([]ir.Firewall, error) {
	var out []ir.Firewall
	for _, fw := range prog.Firewalls {
		if only != "" && fw.Name != only {
			continue
		}
		if only == "" && fw.Backend != b {
			continue
		}
		if fw.Backend != b {
			return nil, fmt.Errorf("--firewall %s: its backend is %s, not %s (set firewalls: %q: backend: %s)", fw.Name, fw.Backend, b, fw.Name, setting)
		}
		out = append(out, fw)
	}
	switch {
	case only != "" && out == nil:
		return nil, fmt.Errorf("--firewall %s: no firewall qube of that name serves a managed qube", only)
	case out == nil:
		return nil, fmt.Errorf("no firewall qube has the %s backend: set one with firewalls: NAME: backend: %s", b, setting)
	}
	return out, nil
}

// warnNoDNS warns when a firewall qube's table has no DNS servers: without
// a netvm it has no Qubes virtual servers, and its clients' DNS rules then
// match nothing.
func warnNoDNS(w io.Writer, fw string, opts nftables.Options) {
	if opts.DNS4 == nil && opts.DNS6 == nil {
		fmt.Fprintf(w, "qfw: warning: %s has no netvm, so its DNS servers are its upstream ones; give them with --dns, or its clients' DNS rules match nothing\n", fw)
	}
}

func hasClient(clients []nftables.Client, name string) bool {
	for _, c := range clients {
		if c.Name == name {
			return true
		}
	}
	return false
}

// liveResolver resolves names with the system's resolver, as the Linux
// agent does when it loads a list. A failed lookup is a name with no
// address: its client's traffic of that family is blocked.
type liveResolver struct{}

func (liveResolver) Resolve(host string, family int) ([]netip.Addr, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	network := "ip4"
	if family == 6 {
		network = "ip6"
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, network, host)
	if err != nil {
		return nil, true
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	return addrs, true
}

// blockedRule returns the rule that names the host that blocks a list.
func blockedRule(clients []nftables.Client, b nftables.Blocked) ir.Rule {
	for _, c := range clients {
		if c.Name == b.Client {
			if b.Family == 6 {
				return c.Rules6[b.Rule]
			}
			return c.Rules4[b.Rule]
		}
	}
	return ir.Rule{}
}

// earliestExpiry returns the earliest expiry of the clients' rules, 0 if
// none expires.
func earliestExpiry(clients []nftables.Client) int64 {
	var at int64
	for _, c := range clients {
		for _, rules := range [][]ir.Rule{c.Rules4, c.Rules6} {
			for _, r := range rules {
				if r.Expire != 0 && (at == 0 || r.Expire < at) {
					at = r.Expire
				}
			}
		}
	}
	return at
}

// cachedResolver asks next once per name and family.
type cachedResolver struct {
	next eval.Resolver
	seen map[string][]netip.Addr
}

func (c *cachedResolver) Resolve(host string, family int) ([]netip.Addr, bool) {
	key := fmt.Sprintf("%s/%d", host, family)
	if addrs, ok := c.seen[key]; ok {
		return addrs, true
	}
	addrs, known := c.next.Resolve(host, family)
	if known {
		c.seen[key] = addrs
	}
	return addrs, known
}
