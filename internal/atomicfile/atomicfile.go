package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
)

// Write writes data to path with the permissions perm, through a
// temporary file in path's directory that is synced, then renamed over
// path. On an error path is as it was and the temporary file is gone.
func Write(path string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		// CreateTemp makes the file 0600 whatever the umask; the mode
		// is set here, not left to it.
		err = tmp.Chmod(perm)
	}
	if err == nil {
		// On disk before the rename: after a crash, a saved plan or an
		// apply record is the old one or the new one, not an empty file.
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
