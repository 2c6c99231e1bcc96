package qubes

import (
	"net/netip"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// Short constructors keep table rows on one line.

func pfx(s string) ir.Dst                   { return ir.Dst{Prefix: netip.MustParsePrefix(s)} }
func host(s string) ir.Dst                  { return ir.Dst{Host: s} }
func ports(first, last uint16) ir.PortRange { return ir.PortRange{First: first, Last: last} }
