package agent

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// State is what the agent is doing.
type State string

const (
	// StateStarting: the agent is handling the clients present at start.
	StateStarting State = "starting"
	// StateReady: the agent has applied the lists and waits for changes.
	StateReady State = "ready"
	// StateReloading: the agent is handling every client again (SIGHUP).
	StateReloading State = "reloading"
	// StateStopped: the agent stopped; the table stays in force.
	StateStopped State = "stopped"
)

// States are the states, in the order of a run.
var States = []State{StateStarting, StateReady, StateReloading, StateStopped}

// DefaultStatusFile is where the agent keeps its status unless told
// otherwise: under /run, gone at the next boot, as the table is.
const DefaultStatusFile = "/run/qfw/agent.json"

// StatusFormatVersion is the version of the status file's format.
const StatusFormatVersion = 1

// Status is what the agent's status file holds.
type Status struct {
	FormatVersion int   `json:"format_version"`
	State         State `json:"state"`
	// Updated is when the agent wrote the file.
	Updated time.Time `json:"updated"`
	// Clients are the clients in the table, sorted by address.
	Clients []ClientStatus `json:"clients"`
}

// ClientStatus is the status of one client address.
type ClientStatus struct {
	Address netip.Addr `json:"address"`
	// Family is 4 or 6, the address's.
	Family int `json:"family"`
	// Rules is the number of rules of the list dom0 wrote, without the
	// policy.
	Rules int `json:"rules"`
	// Handled is the counter /qubes-firewall-handled/<address>.
	Handled int `json:"handled"`
	// Applied is when the client's rules were last put in force; nil if
	// never.
	Applied *time.Time `json:"applied"`
	// Failure says what keeps the list from being in force as written;
	// empty if nothing.
	Failure string `json:"failure"`
}

// status returns the agent's status now.
func (a *agent) status() *Status {
	s := &Status{FormatVersion: StatusFormatVersion, State: a.state, Updated: a.now().UTC(), Clients: []ClientStatus{}}
	for _, addr := range a.sorted() {
		c := a.clients[addr]
		cs := ClientStatus{Address: addr, Family: family(addr), Rules: c.written, Handled: c.handled, Failure: a.failure(c)}
		if !c.applied.IsZero() {
			t := c.applied.UTC()
			cs.Applied = &t
		}
		s.Clients = append(s.Clients, cs)
	}
	return s
}

// writeStatus writes the status file, if there is one, and tells the
// notifier in one line.
func (a *agent) writeStatus() {
	s := a.status()
	if a.cfg.StatusFile != "" {
		if err := WriteStatus(a.cfg.StatusFile, s); err != nil {
			a.logf(Warning, "write the status file: %v", err)
		}
	}
	failing := 0
	for _, c := range s.Clients {
		if c.Failure != "" {
			failing++
		}
	}
	line := fmt.Sprintf("%s: %d clients", s.State, len(s.Clients))
	if failing > 0 {
		line += fmt.Sprintf(", %d not as written (qfw agent status)", failing)
	}
	a.notify("running", func(n Notifier) error { return n.Status(line) })
}

// WriteStatus writes s to path atomically: a reader sees the old file or
// the new one, never a part.
func WriteStatus(path string, s *Status) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
