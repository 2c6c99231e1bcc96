package agent

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/backends/qubesdb"
	"github.com/qfw-dev/qfw/backends/qubesdb/qubesdbtest"
	"github.com/qfw-dev/qfw/compiler/ir"
)

// After QubesDB drops the connection, the client registers the agent's
// watches again, each once: a commit that comes then is seen, and counted
// once.
func TestWatchesAfterReconnect(t *testing.T) {
	srv, err := qubesdbtest.NewServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	publish := func(entries []qubes.Entry) {
		t.Helper()
		for _, e := range entries {
			if e.Op == qubes.Remove {
				srv.Rm(e.Path)
			} else if err := srv.Write(e.Path, []byte(e.Value)); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(qubes.Entries(addrA, []ir.Rule{https}, 0))
	publish(qubes.Entries(addrB, []ir.Rule{accept}, 0))
	srv.Write(connected4, []byte(addrA.String()))
	srv.Write(connected6, []byte(addrB.String()))
	db, err := qubesdb.Open(srv.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	k, log, res := newFakeKernel(), &logBuf{}, newResolver()
	n := &fakeNotifier{ready: make(chan struct{}, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{DB: db, Kernel: k, Resolver: res, Notifier: n, Log: log.log}, nil)
	}()
	defer func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("agent's log:\n%s", log)
		}
	}()
	handled := func(want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			v, _ := srv.Read(handledDir + addrA.String())
			got, _ := strconv.Atoi(string(v))
			if got == want {
				return
			}
			if got > want || time.Now().After(deadline) {
				t.Fatalf("%s handled %d times; want %d", addrA, got, want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	want := []string{connected4, connected6, "/qubes-firewall/10.137.0.5", "/qubes-firewall/fd09:24ef:4179::a89:6"}
	slices.Sort(want)
	watches := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !slices.Equal(srv.Watches(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("watches %q; want %q", srv.Watches(), want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	handled(1)
	watches()

	srv.DropClients()
	handled(2) // everything read again
	watches()
	publish(qubes.Entries(addrA, []ir.Rule{accept}, 0))
	handled(3)
	time.Sleep(50 * time.Millisecond)
	handled(3)
	if got, want := k.chain(addrA), digest(res, addrA, accept, drop); got != want {
		t.Fatalf("%s: chain %q in force; want %q, of the list committed last", addrA, got, want)
	}
}
