package agent

import (
	"os"
	"os/signal"
	"syscall"
)

// HangupReloads returns a reload channel for [Run] that SIGHUP feeds, as
// systemctl reload sends it: the signals that arrive while a reload is
// pending make one reload. stop ends the feeding; call it once Run has
// returned.
func HangupReloads() (reload <-chan struct{}, stop func()) {
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
