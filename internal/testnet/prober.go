package testnet

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Prober sends probes from a client without pause, each one-shot: a new
// socket, one TCP connection attempt or one UDP datagram, and its fate.
// Every probe is thus a new connection that the firewall's rules decide
// then, not a packet of one they decided before, and a probe that passes
// when no rule in force at any moment allows it shows a window.
type Prober struct {
	sent, passed, rejected, dropped atomic.Int64

	mu     sync.Mutex
	passes []string
	err    error

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// ProberCounts says what became of a prober's probes.
type ProberCounts struct {
	Sent, Passed, Rejected, Dropped int64
	// Passes describes the first probes that passed, with when.
	Passes []string
}

// maxPasses is how many passes a prober describes.
const maxPasses = 20

// StartProber starts, for each probe, workers goroutines that send it from
// the client until Stop; a probe without an answer counts as dropped after
// wait. Each probe has workers of its own, so that one that waits (a TCP
// connection attempt over IPv6 whose reject comes while connect still
// holds the socket is only retried after a second) does not slow the
// others.
func (c *Client) StartProber(probes []Probe, workers int, wait time.Duration) *Prober {
	p := &Prober{stop: make(chan struct{})}
	for _, probe := range probes {
		for range workers {
			p.wg.Add(1)
			go p.run(c, probe, wait)
		}
	}
	return p
}

func (p *Prober) run(c *Client, probe Probe, wait time.Duration) {
	defer p.wg.Done()
	// The thread stays in the client's namespace and ends with the
	// goroutine: it is never unlocked.
	runtime.LockOSThread()
	if err := unix.Setns(int(c.NS.File.Fd()), unix.CLONE_NEWNET); err != nil {
		p.fail(fmt.Errorf("enter network namespace %s: %w", c.NS.Name, err))
		return
	}
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		var f Fate
		var err error
		switch probe.Proto {
		case "tcp":
			f, err = tcpProbe(probe, wait)
		case "udp":
			f, err = udpProbe(probe, wait)
		default:
			err = fmt.Errorf("prober: %s: only tcp and udp", probe)
		}
		if err != nil {
			p.fail(fmt.Errorf("%s: %w", probe, err))
			return
		}
		p.sent.Add(1)
		switch f {
		case Accepted:
			p.passed.Add(1)
			p.mu.Lock()
			if len(p.passes) < maxPasses {
				p.passes = append(p.passes, fmt.Sprintf("%s passed at %s", probe, time.Now().Format("15:04:05.000000")))
			}
			p.mu.Unlock()
		case Rejected:
			p.rejected.Add(1)
		case Dropped:
			p.dropped.Add(1)
		}
	}
}

func (p *Prober) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

// Counts says what became of the probes so far.
func (p *Prober) Counts() ProberCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return ProberCounts{
		Sent: p.sent.Load(), Passed: p.passed.Load(), Rejected: p.rejected.Load(), Dropped: p.dropped.Load(),
		Passes: append([]string(nil), p.passes...),
	}
}

// Stop stops the prober, waits for the probes under way, and says what
// became of all of them; an error is a probe that could not be sent. It
// may be called again, as by a test's cleanup after it failed.
func (p *Prober) Stop() (ProberCounts, error) {
	p.stopOnce.Do(func() { close(p.stop) })
	p.wg.Wait()
	p.mu.Lock()
	err := p.err
	p.mu.Unlock()
	return p.Counts(), err
}
