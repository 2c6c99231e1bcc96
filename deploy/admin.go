package deploy

import (
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
