package deploy

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/qfw-dev/qfw/backends/qubes/adminapi"
)

// Admin says how to reach the Admin API, and where dom0 keeps kernels.
type Admin struct {
	// Socket is qubesd's socket, in dom0.
	Socket string
	// Qrexec says to call through the qrexec client QrexecClient, from a
	// management qube, in place of the socket.
	Qrexec       bool
	QrexecClient string
	// KernelsDir is dom0's kernel directory, where unikernel images go.
	KernelsDir string
}

// Client returns a client of the Admin API over a's transport.
func (a Admin) Client() *adminapi.Client {
	if a.Qrexec {
		return &adminapi.Client{Transport: adminapi.Qrexec{Path: a.QrexecClient}}
	}
	return &adminapi.Client{Transport: adminapi.Socket{Path: a.Socket}}
}

func (a Admin) provisioner() *provisioner {
	return &provisioner{client: a.Client(), inDom0: !a.Qrexec, kernelsDir: a.KernelsDir}
}

// count returns n and noun, made plural unless n is 1.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// WriteFile writes data to path through a temporary file and a rename, so
// that a reader never sees half a file.
func WriteFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, werr)
	}
	return nil
}
