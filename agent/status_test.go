package agent

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
)

// TestStatusRoundTrip writes a status as the agent does, readable by
// all, and reads it back as qfw agent status does.
func TestStatusRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 3, 8, 0, 5, 250000000, time.UTC)
	want := &Status{
		FormatVersion: StatusFormatVersion, State: StateReady, Updated: at,
		Clients: []ClientStatus{
			{Address: netip.MustParseAddr("10.137.0.5"), Family: 4, Rules: 12, Handled: 3, Applied: &at},
			{Address: netip.MustParseAddr("fd09:24ef:4179::a89:5"), Family: 6, Failure: "last apply failed: the kernel refused the transaction"},
		},
	}
	path := filepath.Join(t.TempDir(), "run", "agent.json")
	if err := WriteStatus(path, want); err != nil {
		t.Fatal(err)
	}
	// qfw agent status reads it without the agent's privileges.
	if fi, err := os.Stat(path); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm() != 0o644 {
		t.Errorf("status file mode %v; want 0644", fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeStatus(path, b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("status written as\n%s\nreads as %+v; want %+v", b, got, want)
	}
}

// refused reports whether err refuses a file, failing t unless it says
// where in the file, name, it is.
func refused(t *testing.T, name string, err error) bool {
	t.Helper()
	if err != nil && !strings.HasPrefix(err.Error(), name+":") {
		t.Fatalf("error without a position: %v", err)
	}
	return err != nil
}

// FuzzStatus reads agent status files: an error has a position, and
// a status that reads writes again to a file that reads back the same.
func FuzzStatus(f *testing.F) {
	f.Add([]byte(`{"format_version": 1, "state": "ready", "updated": "2026-12-03T08:00:00Z", "clients": [{"address": "10.137.0.5", "family": 4, "rules": 1, "handled": 1, "applied": null, "failure": ""}]}`))
	f.Add([]byte(`{"format_version": 1, "state": "stopped", "updated": "2026-12-03T08:00:00.5+01:00", "clients": [{"address": "fd09::5", "family": 6, "rules": 10000, "handled": 9007199254740992, "applied": "2026-12-03T08:00:00Z", "failure": "x"}]}`))
	f.Add([]byte(`{"format_version": 1, "state": "ready", "updated": "2026-12-03T08:00:00Z", "clients": [{"address": "::ffff:1.2.3.4", "family": 6}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeStatus("agent.json", data)
		if refused(t, "agent.json", err) {
			return
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("a status that reads does not write: %v", err)
		}
		again, err := DecodeStatus("agent.json", b)
		if err != nil {
			t.Fatalf("a status written again does not read: %v\n%s", err, b)
		}
		if b2, _ := json.Marshal(again); !bytes.Equal(b, b2) {
			t.Fatalf("a status written again reads back otherwise:\n%s\nthen\n%s", b, b2)
		}
	})
}

// TestStatusText writes statuses as qfw agent status shows them: one
// line a client, whatever its failure holds.
func TestStatusText(t *testing.T) {
	at := time.Date(2026, 12, 3, 8, 0, 5, 250000000, time.UTC)
	tests := []struct {
		name string
		s    *Status
		want string
	}{
		{
			name: "clients",
			s: &Status{
				FormatVersion: StatusFormatVersion, State: StateReady, Updated: at,
				Clients: []ClientStatus{
					{Address: netip.MustParseAddr("10.137.0.5"), Family: 4, Rules: 12, Handled: 3, Applied: &at},
					{Address: netip.MustParseAddr("10.137.0.6"), Family: 4, Failure: "two\nlines"},
					{Address: netip.MustParseAddr("fd09:24ef:4179::a89:5"), Family: 6, Failure: "last apply failed: the kernel refused the transaction"},
				},
			},
			want: `agent ready, status of 2026-12-03T08:00:05Z
CLIENT                 FAMILY  RULES  HANDLED  APPLIED               FAILURE
10.137.0.5             IPv4    12     3        2026-12-03T08:00:05Z  -
10.137.0.6             IPv4    0      0        never                 "two\nlines"
fd09:24ef:4179::a89:5  IPv6    0      0        never                 last apply failed: the kernel refused the transaction
`,
		},
		{
			name: "no clients",
			s:    &Status{FormatVersion: StatusFormatVersion, State: StateStarting, Updated: at.In(time.FixedZone("CET", 3600)), Clients: []ClientStatus{}},
			want: "agent starting, status of 2026-12-03T08:00:05Z\nno clients\n",
		},
	}
	for _, tt := range tests {
		var out strings.Builder
		if err := tt.s.WriteText(&out); err != nil {
			t.Fatal(err)
		}
		if out.String() != tt.want {
			t.Errorf("%s: status written as\n%s\nwant\n%s", tt.name, out.String(), tt.want)
		}
	}
}

// TestReadStatus reads status files as qfw agent status does, with the
// errors it prints.
func TestReadStatus(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "agent.json")
	at := time.Date(2026, 12, 3, 8, 0, 5, 0, time.UTC)
	if err := WriteStatus(good, &Status{FormatVersion: StatusFormatVersion, State: StateStopped, Updated: at, Clients: []ClientStatus{}}); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"format_version": 2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ path, want string }{
		{good, ""},
		{filepath.Join(dir, "none.json"), "--status-file " + dir + "/none.json: no such file; qfw agent writes it when it starts"},
		{dir, "--status-file " + dir + ": is a directory"},
		{bad, bad + `:1:1: the file has no field "state"`},
	}
	for _, tt := range tests {
		s, err := ReadStatus(tt.path)
		got := ""
		if err != nil {
			got = err.Error()
		} else if s.State != StateStopped || !s.Updated.Equal(at) {
			t.Errorf("%s: read %+v", tt.path, s)
		}
		if got != tt.want {
			t.Errorf("%s: error %q; want %q", tt.path, got, tt.want)
		}
	}
}
