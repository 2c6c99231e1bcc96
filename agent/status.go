package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/qfw-dev/qfw/internal/atomicfile"
	"github.com/qfw-dev/qfw/internal/cliflag"
	"github.com/qfw-dev/qfw/internal/jsonfile"
	"github.com/qfw-dev/qfw/internal/words"
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
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	// 0644: qfw agent status reads it without the agent's privileges.
	return atomicfile.Write(path, append(b, '\n'), 0o644)
}

// WriteText writes s as qfw agent status shows it: the agent's state and
// when it wrote the status, then a table of the clients, one line each,
// whatever a client's failure holds.
func (s *Status) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "agent %s, status of %s\n", s.State, s.Updated.UTC().Format(time.RFC3339))
	if len(s.Clients) == 0 {
		_, err := fmt.Fprintln(w, "no clients")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT\tFAMILY\tRULES\tHANDLED\tAPPLIED\tFAILURE")
	for _, c := range s.Clients {
		applied, failure := "never", c.Failure
		if c.Applied != nil {
			applied = c.Applied.UTC().Format(time.RFC3339)
		}
		switch {
		case failure == "":
			failure = "-"
		case strings.ContainsFunc(failure, unicode.IsControl):
			// One client, one line, whatever the file holds.
			failure = strconv.Quote(failure)
		}
		fmt.Fprintf(tw, "%s\tIPv%d\t%d\t%d\t%s\t%s\n", c.Address, c.Family, c.Rules, c.Handled, applied, failure)
	}
	return tw.Flush()
}

// ReadStatus reads the agent's status file, path, as qfw agent status
// does (see [DecodeStatus]). Its errors name path by the flag that gives
// it, --status-file.
func ReadStatus(path string) (*Status, error) {
	b, err := jsonfile.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("--status-file %s: no such file; qfw agent writes it when it starts", path)
	}
	if err != nil {
		return nil, cliflag.PathError("status-file", path, err)
	}
	return DecodeStatus(path, b)
}

// DecodeStatus reads the agent's status file, data, from the file name,
// as qfw agent status does. It is hostile input like every file read
// back: each field is checked, and an error names its place.
func DecodeStatus(name string, data []byte) (*Status, error) {
	d, root, err := jsonfile.Parse(name, data)
	if err != nil {
		return nil, err
	}
	if err := d.Object(root, "", []string{"format_version", "state", "updated", "clients"}, nil); err != nil {
		return nil, err
	}
	fv := root.Fields["format_version"]
	if err := d.Want(fv, "format_version", jsonfile.Number); err != nil {
		return nil, err
	}
	if fv.Num != fmt.Sprint(StatusFormatVersion) {
		return nil, d.Errorf(fv, "format_version", "%s; this qfw reads agent status files of format %d", fv.Num, StatusFormatVersion)
	}
	s := &Status{FormatVersion: StatusFormatVersion}
	sv := root.Fields["state"]
	state, err := d.Str(sv, "state")
	if err != nil {
		return nil, err
	}
	names := make([]string, len(States))
	for i, st := range States {
		names[i] = string(st)
	}
	if !slices.Contains(names, state) {
		return nil, d.Errorf(sv, "state", "%q; want %s", state, words.Or(names))
	}
	s.State = State(state)
	if s.Updated, err = d.Timestamp(root.Fields["updated"], "updated"); err != nil {
		return nil, err
	}
	cv := root.Fields["clients"]
	if err := d.Want(cv, "clients", jsonfile.Array); err != nil {
		return nil, err
	}
	s.Clients = make([]ClientStatus, 0, len(cv.Elems))
	for i, e := range cv.Elems {
		path := jsonfile.Index("clients", i)
		c, err := decodeClientStatus(d, e, path)
		if err != nil {
			return nil, err
		}
		if i > 0 && s.Clients[i-1].Address.Compare(c.Address) >= 0 {
			return nil, d.Errorf(e.Fields["address"], path+".address", "%s after %s; the agent lists each address once, in order", c.Address, s.Clients[i-1].Address)
		}
		s.Clients = append(s.Clients, c)
	}
	return s, nil
}

// maxCount bounds the counters of the status file: JSON numbers beyond
// 2^53 do not come back as written.
const maxCount = 1 << 53

// decodeClientStatus reads one client of the status file, v, at path.
func decodeClientStatus(d *jsonfile.Doc, v *jsonfile.Value, path string) (ClientStatus, error) {
	var c ClientStatus
	if err := d.Object(v, path, []string{"address", "family", "rules", "handled", "applied", "failure"}, nil); err != nil {
		return c, err
	}
	av := v.Fields["address"]
	s, err := d.Str(av, path+".address")
	if err != nil {
		return c, err
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.String() != s || a.Is4In6() {
		return c, d.Errorf(av, path+".address", "%q is not an IPv4 or IPv6 address as the agent writes them", s)
	}
	c.Address = a
	fam := family(a)
	fv := v.Fields["family"]
	if c.Family, err = d.Integer(fv, path+".family", 4, 6); err != nil {
		return c, err
	}
	if c.Family != fam {
		return c, d.Errorf(fv, path+".family", "%d, but %s is an IPv%d address", c.Family, a, fam)
	}
	// dom0 numbers a list's rules in four digits.
	if c.Rules, err = d.Integer(v.Fields["rules"], path+".rules", 0, 10000); err != nil {
		return c, err
	}
	if c.Handled, err = d.Integer(v.Fields["handled"], path+".handled", 0, maxCount); err != nil {
		return c, err
	}
	switch apv := v.Fields["applied"]; apv.Kind {
	case jsonfile.Null:
	case jsonfile.String:
		t, err := d.Timestamp(apv, path+".applied")
		if err != nil {
			return c, err
		}
		c.Applied = &t
	default:
		return c, d.Errorf(apv, path+".applied", "want a string or null (never), not %s", apv.Kind)
	}
	if c.Failure, err = d.Str(v.Fields["failure"], path+".failure"); err != nil {
		return c, err
	}
	return c, nil
}
