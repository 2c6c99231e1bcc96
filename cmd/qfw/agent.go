package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/agent"
	"github.com/qfw-dev/qfw/backends/qubesdb"
)

const agentDoc = `agent is the firewall qube's service: it enforces the rule lists that dom0
writes into the qube's QubesDB with qfw's nftables table, in place of the
Linux qubes-firewall agent, and keeps them in force as they change.

At start it runs the user's hooks (/etc/qubes/qubes-firewall.d,
/rw/config/qubes-firewall.d, /rw/config/qubes-firewall-user-script), reads
every client's list, applies the table in one transaction, ends the
connections the lists forbid, and tells systemd it is ready. Then, on each
list dom0 commits, it replaces that client's part of the table in one
transaction. On SIGHUP (systemctl reload) it reads /etc/resolv.conf and
every list again. Host names are resolved with the qube's resolvers and
looked up again before their answers expire.

It fails closed: a list that does not parse rejects all of its client's
traffic of that family, and says why in the log; stopping the agent
(SIGTERM) leaves the last lists in force. A client that leaves
/connected-ips loses its chains.

It writes /qubes-firewall-handled/<ip> and /dns/<ip>/<host> back as the
stock agent does, and its status to --status-file, which qfw agent status
shows.`

const agentExamples = `  # Run as the qubes-firewall service (see the README's drop-in).
  qfw agent

  # Apply what QubesDB holds now, once, and exit.
  qfw agent --once

  # Show each client, its rule count, when it was applied, and failures.
  qfw agent status`

func newAgentCmd() *cobra.Command {
	s := &agent.Service{}
	cmd := &cobra.Command{
		Use:     "agent",
		Short:   "Enforce the lists dom0 writes into this firewall qube's QubesDB",
		Long:    agentDoc,
		Example: agentExamples,
		Args:    cobra.NoArgs,
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

const agentStatusDoc = `status shows what the agent running in this firewall qube enforces, from
its status file: the agent's state, and for each client address its family,
the number of rules of its list, the number of lists handled, when its rules
were last put in force, and what keeps its list from being in force as
written (a list refused, a host name with no address, a failed apply).`

func newAgentStatusCmd() *cobra.Command {
	var statusFile string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each client of the agent and what is in force for it",
		Long:  agentStatusDoc,
		Example: `  # The agent's status, as the service keeps it.
  qfw agent status`,
		Args: cobra.NoArgs,
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
