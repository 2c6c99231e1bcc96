package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/agent"
	"github.com/qfw-dev/qfw/agent/hooks"
	"github.com/qfw-dev/qfw/agent/resolver"
	"github.com/qfw-dev/qfw/agent/sdnotify"
	"github.com/qfw-dev/qfw/backends/qubesdb"
	"github.com/qfw-dev/qfw/internal/cliflag"
	"github.com/qfw-dev/qfw/internal/jsonfile"
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

type agentFlags struct {
	qubesdb, netns, resolvConf, statusFile, hooksRoot string
	once                                              bool
}

func newAgentCmd() *cobra.Command {
	f := &agentFlags{}
	cmd := &cobra.Command{
		Use:     "agent",
		Short:   "Enforce the lists dom0 writes into this firewall qube's QubesDB",
		Long:    agentDoc,
		Example: agentExamples,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgent(cmd, f)
		},
	}
	cmd.Flags().StringVar(&f.qubesdb, "qubesdb", qubesdb.DefaultPath, "QubesDB's `SOCKET` (the read-only one beside it if this one refuses)")
	cmd.Flags().StringVar(&f.netns, "netns", "", "apply in the network namespace of `FILE`, such as /run/netns/NAME (default: the agent's own)")
	cmd.Flags().BoolVar(&f.once, "once", false, "apply the lists QubesDB holds now, then exit, leaving them in force")
	cmd.Flags().StringVar(&f.resolvConf, "resolv-conf", "/etc/resolv.conf", "the resolver configuration `FILE`: the servers that resolve host names and that specialtarget=dns matches")
	cmd.Flags().StringVar(&f.statusFile, "status-file", agent.DefaultStatusFile, "keep the agent's status in `FILE`, for qfw agent status")
	cmd.Flags().StringVar(&f.hooksRoot, "hooks-root", "/", "run the user's hooks from under `DIR`")
	cmd.AddCommand(newAgentStatusCmd())
	return cmd
}

func runAgent(cmd *cobra.Command, f *agentFlags) error {
	var netns agent.NetNS
	if f.netns != "" {
		var err error
		if netns, err = agent.OpenNetNS(f.netns); err != nil {
			return cliflag.PathError("netns", f.netns, err)
		}
		defer netns.File.Close()
	}
	res, err := resolver.New(resolver.Config{ResolvConf: f.resolvConf})
	if err != nil {
		return cliflag.PathError("resolv-conf", f.resolvConf, err)
	}
	db, err := qubesdb.Open(f.qubesdb)
	if err != nil {
		return cliflag.PathError("qubesdb", f.qubesdb, err)
	}
	defer db.Close()
	log := agent.NewLog(cmd.ErrOrStderr(), os.Getenv("JOURNAL_STREAM") != "")
	if db.ReadOnly() {
		log(agent.Warning, "QubesDB is read-only to the agent: it cannot write /qubes-firewall-handled/ and /dns/ back")
	}
	cfg := agent.Config{
		DB: db, Kernel: netns, Resolver: res,
		StatusFile: f.statusFile, Log: log,
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if f.once {
		if err := agent.Once(ctx, cfg); err != nil {
			return fmt.Errorf("agent --once: %w", err)
		}
		return nil
	}
	cfg.Notifier = sdnotify.Notifier{}
	cfg.Hooks = func(ctx context.Context, log func(string)) error {
		return hooks.Run(ctx, hooks.Config{Root: f.hooksRoot}, log)
	}
	reload, stopReloads := agent.HangupReloads()
	defer stopReloads()
	return agent.Run(ctx, cfg, reload)
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
			b, err := jsonfile.ReadFile(statusFile)
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("--status-file %s: no such file; qfw agent writes it when it starts", statusFile)
			}
			if err != nil {
				return cliflag.PathError("status-file", statusFile, err)
			}
			s, err := agent.DecodeStatus(statusFile, b)
			if err != nil {
				return err
			}
			return s.WriteText(cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&statusFile, "status-file", agent.DefaultStatusFile, "read the agent's status from `FILE`")
	return cmd
}
