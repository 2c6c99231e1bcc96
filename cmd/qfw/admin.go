package main

import (
	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/backends/qubes/adminapi"
)

// adminFlags choose how a command reaches the Admin API.
type adminFlags struct {
	socket       string
	qrexec       bool
	qrexecClient string
}

func (f *adminFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.socket, "socket", adminapi.SocketPath, "qubesd's Admin API `SOCKET`, in dom0")
	cmd.Flags().BoolVar(&f.qrexec, "qrexec", false, "call through qrexec-client-vm, from a management qube")
	cmd.Flags().StringVar(&f.qrexecClient, "qrexec-client", "qrexec-client-vm", "the qrexec client `PROGRAM`")
}

func (f *adminFlags) client() *adminapi.Client {
	if f.qrexec {
		return &adminapi.Client{Transport: adminapi.Qrexec{Path: f.qrexecClient}}
	}
	return &adminapi.Client{Transport: adminapi.Socket{Path: f.socket}}
}
