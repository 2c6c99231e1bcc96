package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/agent"
	"github.com/qfw-dev/qfw/backends/qubesdb"
)

func newAgentCmd() *cobra.Command {
	s := &agent.Service{}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Enforce the lists dom0 writes into this firewall qube's QubesDB",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s.Log, s.Journal = cmd.ErrOrStderr(), os.Getenv("JOURNAL_STREAM") != ""
			return s.Serve(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&s.QubesDB, "qubesdb", qubesdb.DefaultPath, "QubesDB's `SOCKET` (the read-only one beside it if this one refuses)")
	cmd.Flags().StringVar(&s.NetNS, "netns", "", "apply in the network namespace of `FILE`, such as /run/netns/NAME (default: the agent's own)")
	cmd.Flags().BoolVar(&s.Once, "once", false, "apply the lists QubesDB holds now, then exit, leaving them in force")
	cmd.Flags().StringVar(&s.ResolvConf, "resolv-conf", "/etc/resolv.conf", "the resolver configuration `FILE`: the servers that resolve host names and that specialtarget=dns matches")
	cmd.Flags().StringVar(&s.StatusFile, "status-file", agent.DefaultStatusFile, "keep the agent's status in `FILE`, for qfw agent status")
	cmd.Flags().StringVar(&s.HooksRoot, "hooks-root", "/", "run the user's hooks from under `DIR`")
	cmd.AddCommand(newAgentStatusCmd())
	return cmd
}

func newAgentStatusCmd() *cobra.Command {
	var statusFile string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each client of the agent and what is in force for it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := agent.ReadStatus(statusFile)
			if err != nil {
				return err
			}
			return s.WriteText(cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&statusFile, "status-file", agent.DefaultStatusFile, "read the agent's status from `FILE`")
	return cmd
}
