package main

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/agent"
)

// TestAgentStatusTable prints a status as qfw agent status does: one
// line a client, whatever its failure holds.
func TestAgentStatusTable(t *testing.T) {
	at := time.Date(2026, 12, 3, 8, 0, 5, 250000000, time.UTC)
	s := &agent.Status{
		FormatVersion: agent.StatusFormatVersion, State: agent.StateReady, Updated: at,
		Clients: []agent.ClientStatus{
			{Address: netip.MustParseAddr("10.137.0.5"), Family: 4, Rules: 12, Handled: 3, Applied: &at},
			{Address: netip.MustParseAddr("10.137.0.6"), Family: 4, Failure: "two\nlines"},
			{Address: netip.MustParseAddr("fd09:24ef:4179::a89:5"), Family: 6, Failure: "last apply failed: the kernel refused the transaction"},
		},
	}
	var out strings.Builder
	if err := printAgentStatus(&out, s); err != nil {
		t.Fatal(err)
	}
	const table = `agent ready, status of 2026-12-03T08:00:05Z
CLIENT                 FAMILY  RULES  HANDLED  APPLIED               FAILURE
10.137.0.5             IPv4    12     3        2026-12-03T08:00:05Z  -
10.137.0.6             IPv4    0      0        never                 "two\nlines"
fd09:24ef:4179::a89:5  IPv6    0      0        never                 last apply failed: the kernel refused the transaction
`
	if out.String() != table {
		t.Errorf("status printed as\n%s\nwant\n%s", out.String(), table)
	}
}
