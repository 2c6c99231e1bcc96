package deploy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/qfw-dev/qfw/internal/atomicfile"
	"github.com/qfw-dev/qfw/internal/jsonfile"
)

// checkOutFile checks that path, the --out of a command, is absent or a
// regular file that holds what the command writes, a JSON object that
// ours accepts; what says what that is, in the error.
// stdout says where the output goes without --out, for a pipe or a
// device, which reading would wait on.
func checkOutFile(path, what, stdout string, ours func(root *jsonfile.Value) bool) error {
	if path == "" {
		return nil
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err == nil && !fi.Mode().IsRegular():
		return fmt.Errorf("--out %s: not a regular file; %s", path, stdout)
	}
	b, err := jsonfile.ReadFile(path)
	if err == nil {
		var d *jsonfile.Doc
		var root *jsonfile.Value
		if d, root, err = jsonfile.Parse(path, b); err == nil {
			err = d.Want(root, "", jsonfile.Object)
		}
		if err == nil && ours(root) {
			return nil
		}
	}
	return fmt.Errorf("--out %s: the file exists and is not %s", path, what)
}

// QubeNameRule says, after "not a qube name: ", which names dom0 takes,
// as policy.IsQubeName checks them.
const QubeNameRule = `up to 31 letters, digits, "_", "." and "-", starting with a letter, neither none nor default, not ending in -dm`

// WriteFile writes data to path through a temporary file and a rename, so
// that a reader never sees half a file.
func WriteFile(path string, data []byte) error {
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
