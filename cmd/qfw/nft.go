package main

import (
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/deploy"
)

// nftablesFiles renders qfw's table for each nftables firewall qube, with
// names resolved from the policy alone, so that the same policy gives the
// same script.
func nftablesFiles(cmd *cobra.Command, prog *ir.Program, only string, dns []netip.Addr, now int64) ([]outFile, error) {
	tables, err := deploy.NftablesTables(prog, only, dns, now, cmd.ErrOrStderr())
	if err != nil {
		return nil, err
	}
	var out []outFile
	for _, t := range tables {
		out = append(out, outFile{
			name: t.Firewall + ".nft", header: t.Firewall + " (nftables)", text: t.Text,
			json: map[string]any{"name": t.Firewall, "backend": "nftables", "nft": string(t.Text)},
		})
	}
	return out, nil
}
