package main

import (
	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/backends/qubes/adminapi"
	"github.com/qfw-dev/qfw/deploy"
)

// adminFlags choose how a command reaches the Admin API.
type adminFlags struct{ deploy.Admin }

func (f *adminFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.Socket, "socket", adminapi.SocketPath, "qubesd's Admin API `SOCKET`, in dom0 (not with --qrexec)")
	cmd.Flags().BoolVar(&f.Qrexec, "qrexec", false, "call through qrexec-client-vm, from a management qube")
	cmd.Flags().StringVar(&f.QrexecClient, "qrexec-client", "qrexec-client-vm", "the qrexec client `PROGRAM` (with --qrexec)")
}

// registerKernels adds the flag of dom0's kernels directory, for the
// commands that provision unikernel firewall qubes.
func (f *adminFlags) registerKernels(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.KernelsDir, "kernels-dir", mirage.KernelsDir, "dom0's kernel `DIR`, where unikernel images are installed")
}
