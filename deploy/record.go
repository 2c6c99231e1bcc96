package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/qfw-dev/qfw/internal/jsonfile"
	"github.com/qfw-dev/qfw/policy"
)

// The data directory holds what qfw remembers between runs: the hash of
// the list it last set on each qube, to tell hand edits from its own
// (drift), and the mark of an apply that waits for qfw confirm.
const (
	recordFile  = "applied.json"
	pendingFile = "pending-confirm"
)

// dataDir returns dir, or by default $XDG_STATE_HOME/qfw, or
// ~/.local/state/qfw. A relative $XDG_STATE_HOME is ignored, as the XDG
// specification says: the record would follow the working directory, and
// an apply run elsewhere would not see what the last one set.
func dataDir(dir string) string {
	if dir != "" {
		return dir
	}
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "qfw")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "qfw")
	}
	return filepath.Join(home, ".local", "state", "qfw")
}

// appliedRecord is what qfw last set on each qube.
type appliedRecord struct {
	FormatVersion int                   `json:"format_version"`
	Qubes         map[string]appliedSet `json:"qubes"`
}

type appliedSet struct {
	// Hash is qubes.ListHash of the list as dom0 returned it after the Set.
	Hash string    `json:"hash"`
	At   time.Time `json:"at"`
}

// editedSince returns when qfw last set qube's list, if the list it now
// holds, hashed to hash, is not that one: someone edited it outside qfw.
func (r *appliedRecord) editedSince(qube, hash string) (time.Time, bool) {
	last, ok := r.Qubes[qube]
	return last.At, ok && last.Hash != hash
}

// readRecord reads what qfw last set, from dir. A record that does not
// read is an error, never an empty record: without it apply could not tell
// a hand edit from its own.
func readRecord(dir string) (*appliedRecord, error) {
	r := &appliedRecord{FormatVersion: recordFormatVersion, Qubes: map[string]appliedSet{}}
	path := filepath.Join(dir, recordFile)
	b, err := jsonfile.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	return parseRecord(path, b)
}

const recordFormatVersion = 1

// parseRecord reads an apply record from data, the file name; an error
// also says what to do about a record that does not read.
func parseRecord(name string, data []byte) (*appliedRecord, error) {
	r, err := decodeRecord(name, data)
	if err != nil {
		return nil, fmt.Errorf("%w (apply's record of the lists it set: fix it, or remove it and qfw forgets them)", err)
	}
	return r, nil
}

// decodeRecord reads an apply record from data, the file name.
func decodeRecord(name string, data []byte) (*appliedRecord, error) {
	d, root, err := jsonfile.Parse(name, data)
	if err != nil {
		return nil, err
	}
	if err := d.Object(root, "", []string{"format_version", "qubes"}, nil); err != nil {
		return nil, err
	}
	fv := root.Fields["format_version"]
	if err := d.Want(fv, "format_version", jsonfile.Number); err != nil {
		return nil, err
	}
	if fv.Num != fmt.Sprint(recordFormatVersion) {
		return nil, d.Errorf(fv, "format_version", "%s; this qfw reads records of format %d", fv.Num, recordFormatVersion)
	}
	qv := root.Fields["qubes"]
	if err := d.Want(qv, "qubes", jsonfile.Object); err != nil {
		return nil, err
	}
	r := &appliedRecord{FormatVersion: recordFormatVersion, Qubes: make(map[string]appliedSet, len(qv.Keys))}
	for _, qube := range qv.Keys {
		path := jsonfile.Join("qubes", qube)
		if !policy.IsQubeName(qube) {
			return nil, d.At(qv.KeyOff[qube], path, "%q is not a qube name", qube)
		}
		v := qv.Fields[qube]
		if err := d.Object(v, path, []string{"hash", "at"}, nil); err != nil {
			return nil, err
		}
		hash, err := d.SHA256(v.Fields["hash"], path+".hash")
		if err != nil {
			return nil, err
		}
		at, err := d.Timestamp(v.Fields["at"], path+".at")
		if err != nil {
			return nil, err
		}
		r.Qubes[qube] = appliedSet{Hash: hash, At: at}
	}
	return r, nil
}

func writeRecord(dir string, r *appliedRecord) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return WriteFile(filepath.Join(dir, recordFile), append(b, '\n'))
}

// ErrNoPendingApply says that no apply waits for confirmation.
var ErrNoPendingApply = errors.New("no apply is waiting for confirmation")

// Confirm keeps the changes of the apply that waits for confirmation with
// the data directory dir (empty for the default, as for
// [ApplyOptions.DataDir]); without it, that apply puts every qube it
// changed back when its timeout ends.
func Confirm(dir string) error {
	err := os.Remove(filepath.Join(dataDir(dir), pendingFile))
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNoPendingApply
	}
	return err
}
