package main

import (
	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/backends/qubes/adminapi"
)

// adminFlags choose how a command reaches the Admin API.
type adminFlags struct {
	socket       string
	qrexec       bool
	qrexecClient string
	kernelsDir   string
}

func (f *adminFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.socket, "socket", adminapi.SocketPath, "qubesd's Admin API `SOCKET`, in dom0 (not with --qrexec)")
	cmd.Flags().BoolVar(&f.qrexec, "qrexec", false, "call through qrexec-client-vm, from a management qube")
	cmd.Flags().StringVar(&f.qrexecClient, "qrexec-client", "qrexec-client-vm", "the qrexec client `PROGRAM` (with --qrexec)")
}

// registerKernels adds the flag of dom0's kernels directory, for the
// commands that provision unikernel firewall qubes.
func (f *adminFlags) registerKernels(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.kernelsDir, "kernels-dir", mirage.KernelsDir, "dom0's kernel `DIR`, where unikernel images are installed")
}

func (f *adminFlags) client() *adminapi.Client {
	if f.qrexec {
		return &adminapi.Client{Transport: adminapi.Qrexec{Path: f.qrexecClient}}
	}
	return &adminapi.Client{Transport: adminapi.Socket{Path: f.socket}}
}
