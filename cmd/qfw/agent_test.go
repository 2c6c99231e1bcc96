package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/agent"
)

// TestAgentStatusRoundTrip writes a status as the agent does and reads it
// as qfw agent status does.
func TestAgentStatusRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 3, 8, 0, 5, 250000000, time.UTC)
	want := &agent.Status{
		FormatVersion: agent.StatusFormatVersion, State: agent.StateReady, Updated: at,
		Clients: []agent.ClientStatus{
			{Address: netip.MustParseAddr("10.137.0.5"), Family: 4, Rules: 12, Handled: 3, Applied: &at},
			{Address: netip.MustParseAddr("fd09:24ef:4179::a89:5"), Family: 6, Failure: "last apply failed: the kernel refused the transaction"},
		},
	}
	path := filepath.Join(t.TempDir(), "run", "agent.json")
	if err := agent.WriteStatus(path, want); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeAgentStatus(path, b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("status written as\n%s\nreads as %+v; want %+v", b, got, want)
	}
	var out strings.Builder
	if err := printAgentStatus(&out, got); err != nil {
		t.Fatal(err)
	}
	const table = `agent ready, status of 2026-12-03T08:00:05Z
CLIENT                 FAMILY  RULES  HANDLED  APPLIED               FAILURE
10.137.0.5             IPv4    12     3        2026-12-03T08:00:05Z  -
fd09:24ef:4179::a89:5  IPv6    0      0        never                 last apply failed: the kernel refused the transaction
`
	if out.String() != table {
		t.Errorf("status printed as\n%s\nwant\n%s", out.String(), table)
	}
}

// FuzzAgentStatus reads agent status files: an error has a position, and
// a status that reads writes again to a file that reads back the same.
func FuzzAgentStatus(f *testing.F) {
	f.Add([]byte(`{"format_version": 1, "state": "ready", "updated": "2026-12-03T08:00:00Z", "clients": [{"address": "10.137.0.5", "family": 4, "rules": 1, "handled": 1, "applied": null, "failure": ""}]}`))
	f.Add([]byte(`{"format_version": 1, "state": "stopped", "updated": "2026-12-03T08:00:00.5+01:00", "clients": [{"address": "fd09::5", "family": 6, "rules": 10000, "handled": 9007199254740992, "applied": "2026-12-03T08:00:00Z", "failure": "x"}]}`))
	f.Add([]byte(`{"format_version": 1, "state": "ready", "updated": "2026-12-03T08:00:00Z", "clients": [{"address": "::ffff:1.2.3.4", "family": 6}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := decodeAgentStatus("agent.json", data)
		if refused(t, "agent.json", err) {
			return
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("a status that reads does not write: %v", err)
		}
		again, err := decodeAgentStatus("agent.json", b)
		if err != nil {
			t.Fatalf("a status written again does not read: %v\n%s", err, b)
		}
		if b2, _ := json.Marshal(again); !bytes.Equal(b, b2) {
			t.Fatalf("a status written again reads back otherwise:\n%s\nthen\n%s", b, b2)
		}
		var out strings.Builder
		if err := printAgentStatus(&out, again); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAgentLog: one line a call, a newline in the text cannot split it,
// and under systemd each line starts with its syslog priority.
func TestAgentLog(t *testing.T) {
	for _, tt := range []struct {
		journal string
		want    string
	}{
		{"", "qfw agent: start: table applied\nqfw agent: warning: a\\nb\nqfw agent: error: 10.137.0.5: list refused\n"},
		{"8:123", "<6>qfw agent: start: table applied\n<4>qfw agent: warning: a\\nb\n<3>qfw agent: error: 10.137.0.5: list refused\n"},
	} {
		t.Setenv("JOURNAL_STREAM", tt.journal)
		var b bytes.Buffer
		log := newAgentLog(&b)
		log(agent.Info, "start: table applied")
		log(agent.Warning, "a\nb")
		log(agent.Error, "10.137.0.5: list refused")
		if b.String() != tt.want {
			t.Errorf("JOURNAL_STREAM=%q: log\n%s\nwant\n%s", tt.journal, b.String(), tt.want)
		}
	}
}
