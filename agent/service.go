package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/qfw-dev/qfw/agent/hooks"
	"github.com/qfw-dev/qfw/agent/resolver"
	"github.com/qfw-dev/qfw/agent/sdnotify"
	"github.com/qfw-dev/qfw/backends/qubesdb"
	"github.com/qfw-dev/qfw/internal/cliflag"
)

// Service is the agent as a firewall qube's service runs it: where it
// finds what it works with, by the paths qfw agent's flags give. The
// errors of [Service.Serve] name each path by its flag.
type Service struct {
	// QubesDB is QubesDB's socket (--qubesdb); the read-only one beside
	// it serves if this one refuses.
	QubesDB string
	// NetNS is the file of the network namespace to apply in (--netns);
	// empty for the agent's own.
	NetNS string
	// ResolvConf is the resolver configuration (--resolv-conf).
	ResolvConf string
	// StatusFile is where the agent keeps its status (--status-file).
	StatusFile string
	// HooksRoot is the directory the user's hooks are run from under
	// (--hooks-root).
	HooksRoot string
	// Once applies the lists QubesDB holds now and returns, leaving them
	// in force, with no hooks and no word to systemd (--once).
	Once bool
	// Log gets the agent's log, one line an event; Journal says that it
	// goes to systemd's journal, which reads each line's priority.
	Log     io.Writer
	Journal bool
}

// Serve runs the agent as s says: it opens QubesDB, the resolver and the
// network namespace, then, with Once, applies the lists once; otherwise
// runs the user's hooks and the agent ([Run]), telling systemd how it
// goes, reloading on SIGHUP, until ctx ends. SIGTERM and SIGINT end it
// too, leaving the lists in force.
func (s *Service) Serve(ctx context.Context) error {
	var netns NetNS
	if s.NetNS != "" {
		var err error
		if netns, err = OpenNetNS(s.NetNS); err != nil {
			return cliflag.PathError("netns", s.NetNS, err)
		}
		defer netns.File.Close()
	}
	res, err := resolver.New(resolver.Config{ResolvConf: s.ResolvConf})
	if err != nil {
		return cliflag.PathError("resolv-conf", s.ResolvConf, err)
	}
	db, err := qubesdb.Open(s.QubesDB)
	if err != nil {
		return cliflag.PathError("qubesdb", s.QubesDB, err)
	}
	defer db.Close()
	log := NewLog(s.Log, s.Journal)
	if db.ReadOnly() {
		log(Warning, "QubesDB is read-only to the agent: it cannot write /qubes-firewall-handled/ and /dns/ back")
	}
	cfg := Config{DB: db, Kernel: netns, Resolver: res, StatusFile: s.StatusFile, Log: log}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if s.Once {
		if err := Once(ctx, cfg); err != nil {
			return fmt.Errorf("agent --once: %w", err)
		}
		return nil
	}
	cfg.Notifier = sdnotify.Notifier{}
	cfg.Hooks = func(ctx context.Context, log func(string)) error {
		return hooks.Run(ctx, hooks.Config{Root: s.HooksRoot}, log)
	}
	reload, stopReloads := hangupReloads()
	defer stopReloads()
	return Run(ctx, cfg, reload)
}

// hangupReloads returns a reload channel for [Run] that SIGHUP feeds, as
// systemctl reload sends it: the signals that arrive while a reload is
// pending make one reload. stop ends the feeding; call it once Run has
// returned.
func hangupReloads() (reload <-chan struct{}, stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ch := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case ch <- struct{}{}:
			default: // one reload pending does for several signals
			}
		}
	}()
	return ch, func() {
		signal.Stop(hup)
		close(hup)
	}
}
