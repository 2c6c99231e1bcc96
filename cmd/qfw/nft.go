package main

import (
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/backends/nftables"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
)

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

// nftablesFiles renders qfw's table for each nftables firewall qube, with
// names resolved from the policy alone, so that the same policy gives the
// same script.
func nftablesFiles(cmd *cobra.Command, prog *ir.Program, only string, dns []netip.Addr, now int64) ([]outFile, error) {
	fws, err := backendFirewalls(prog, only, ir.Nftables, `"nftables"`)
	if err != nil {
		return nil, err
	}
	var out []outFile
	for _, fw := range fws {
		clients, opts := nftInput(prog, fw, dns, now, eval.Table(prog.Resolve))
		warnNoDNS(cmd.ErrOrStderr(), fw.Name, opts)
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
		out = append(out, outFile{
			name: fw.Name + ".nft", header: fw.Name + " (nftables)", text: text,
			json: map[string]any{"name": fw.Name, "backend": "nftables", "nft": string(text)},
		})
	}
	return out, nil
}
