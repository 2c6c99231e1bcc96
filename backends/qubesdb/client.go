package qubesdb

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPath is the local daemon's socket inside a qube (and dom0's own).
const DefaultPath = "/var/run/qubes/qubesdb.sock"

var (
	// ErrNotFound is the daemon's answer to a READ or UNWATCH of a path it
	// does not hold.
	ErrNotFound = errors.New("not found")
	// ErrReadOnly is returned for a write or removal on a client connected
	// to the read-only socket.
	ErrReadOnly = errors.New("connected to the read-only socket")
	// ErrClosed is returned by every request after Close.
	ErrClosed = errors.New("client closed")
)

// Entry is one key and its value.
type Entry struct {
	Path  string
	Value []byte
}

// replyTimeout bounds the wait for a reply. The daemon answers at once; one
// that does not is stuck, and the connection is dropped and made again.
var replyTimeout = 30 * time.Second

// Maximum wait between two attempts to reconnect while watches are set.
const maxBackoff = 5 * time.Second

// ROPath returns the read-only socket beside the socket at path:
// qubesdb.sock becomes qubesdb.ro.sock.
func ROPath(path string) string {
	return strings.TrimSuffix(path, ".sock") + ".ro.sock"
}

// Client is a connection to a QubesDB daemon. Its methods may be called
// from several goroutines; requests are sent one at a time.
type Client struct {
	path   string
	events *eventQueue
	ro     atomic.Bool

	// mu serialises requests and (re)connections, and guards what follows.
	mu      sync.Mutex
	cn      *conn    // nil before the first connection and after Close
	watches []string // registered watches, duplicates kept as the daemon keeps them
	closed  bool

	closing chan struct{} // closed by Close: requests in flight give up
	lost    chan struct{} // capacity 1: a connection ended; the keeper reconnects
	wg      sync.WaitGroup
	once    sync.Once
}

// conn is one connection to the daemon and its reader goroutine.
type conn struct {
	nc      net.Conn
	ro      bool
	replies chan []frame  // from the reader to the request in flight: its whole reply
	done    chan struct{} // closed by fail
	err     error         // why the connection ended; set before done is closed
	once    sync.Once
	lost    chan struct{} // the client's

	mu     sync.Mutex
	expect *op // request in flight, until the last message of its reply
}

// Open connects to the daemon at path (DefaultPath when empty), or to its
// read-only socket if the read-write one refuses.
func Open(path string) (*Client, error) {
	if path == "" {
		path = DefaultPath
	}
	c := &Client{
		path:    path,
		events:  newEventQueue(),
		closing: make(chan struct{}),
		lost:    make(chan struct{}, 1),
	}
	c.mu.Lock()
	_, err := c.connectLocked()
	c.mu.Unlock()
	if err != nil {
		c.events.close()
		return nil, fmt.Errorf("qubesdb: %w", err)
	}
	c.wg.Add(1)
	go c.keep()
	return c, nil
}

// ReadOnly reports whether the client is connected to the read-only socket.
func (c *Client) ReadOnly() bool { return c.ro.Load() }

// Events returns the channel of watch events, in the order the daemon sent
// them, and of reconnections (see Event). It is closed by Close.
func (c *Client) Events() <-chan Event { return c.events.out }

// Read returns the value at path, or an error wrapping ErrNotFound.
func (c *Client) Read(path string) ([]byte, error) {
	if err := checkKey(path); err != nil {
		return nil, fmt.Errorf("qubesdb read %s: %w", path, err)
	}
	r, err := c.do(op{cmdRead, path}, nil)
	if err != nil {
		return nil, fmt.Errorf("qubesdb read %s: %w", path, err)
	}
	return r.value, nil
}

// MultiRead returns every entry whose path starts with prefix (the whole
// database for ""), sorted by path. The match is on characters: "/a"
// matches "/a", "/a/b" and "/ab".
func (c *Client) MultiRead(prefix string) ([]Entry, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, fmt.Errorf("qubesdb multiread %s: %w", prefix, err)
	}
	r, err := c.do(op{cmdMultiRead, prefix}, nil)
	if err != nil {
		return nil, fmt.Errorf("qubesdb multiread %s: %w", prefix, err)
	}
	return r.entries, nil
}

// List returns the paths that start with prefix (all of them for ""),
// sorted.
func (c *Client) List(prefix string) ([]string, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, fmt.Errorf("qubesdb list %s: %w", prefix, err)
	}
	r, err := c.do(op{cmdList, prefix}, nil)
	if err != nil {
		return nil, fmt.Errorf("qubesdb list %s: %w", prefix, err)
	}
	return r.paths, nil
}

// Write sets path to value. An empty value is a valid one (dom0 signals
// with them).
func (c *Client) Write(path string, value []byte) error {
	err := checkKey(path)
	if err == nil {
		err = checkValue(value)
	}
	if err == nil {
		_, err = c.do(op{cmdWrite, path}, value)
	}
	if err != nil {
		return fmt.Errorf("qubesdb write %s: %w", path, err)
	}
	return nil
}

// Rm removes path, or with a trailing '/' every path below it. A path that
// is not there is not an error.
func (c *Client) Rm(path string) error {
	err := checkPath(path)
	if err == nil {
		_, err = c.do(op{cmdRm, path}, nil)
	}
	if err != nil {
		return fmt.Errorf("qubesdb rm %s: %w", path, err)
	}
	return nil
}

// Watch asks for an event on every write or removal of path, or with a
// trailing '/' of every path below it. The path need not exist. Watching a
// path twice gives two events for each change, as the daemon does.
func (c *Client) Watch(path string) error {
	err := checkPath(path)
	if err == nil {
		_, err = c.do(op{cmdWatch, path}, nil)
	}
	if err != nil {
		return fmt.Errorf("qubesdb watch %s: %w", path, err)
	}
	return nil
}

// Unwatch removes one registration of path made by Watch; an error wraps
// ErrNotFound if there is none. Events already queued are still delivered.
func (c *Client) Unwatch(path string) error {
	err := checkPath(path)
	if err == nil {
		_, err = c.do(op{cmdUnwatch, path}, nil)
	}
	if err != nil {
		return fmt.Errorf("qubesdb unwatch %s: %w", path, err)
	}
	return nil
}

// Close ends the connection and closes the Events channel; events not yet
// received are dropped.
func (c *Client) Close() error {
	c.once.Do(func() {
		close(c.closing) // a request in flight gives up and releases mu
		c.mu.Lock()
		c.closed = true
		if c.cn != nil {
			c.cn.fail(ErrClosed)
		}
		c.mu.Unlock()
		c.wg.Wait()
		c.events.close()
	})
	return nil
}

// do sends one request and returns its checked reply. A request that
// finds its connection lost before any byte of it was sent (the daemon
// drops the connection after a write fails in its database, and the next
// write meets EPIPE), or whose connection is lost before the reply, is
// sent once more on a new connection: every request here has the same
// effect sent twice, bar a second watch event for a write or removal.
func (c *Client) do(o op, data []byte) (reply, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	msg := encode(o.typ, o.path, data)
	for attempt := 0; ; attempt++ {
		if c.closed {
			return reply{}, ErrClosed
		}
		cn, err := c.connLocked()
		if err != nil {
			return reply{}, err
		}
		if cn.ro && (o.typ == cmdWrite || o.typ == cmdRm) {
			// Refused here: the daemon's RESP_ERROR would not say why.
			return reply{}, ErrReadOnly
		}
		r, err := c.roundTrip(cn, o, msg)
		if err == nil || attempt > 0 || !lostConnection(err) {
			return r, c.afterReply(o, cn, err)
		}
	}
}

// afterReply keeps the watch list in step with the daemon and drops the
// connection after a refused write, which the daemon has closed (writes it
// refuses before its database, for their path or value, are refused here
// before they are sent).
func (c *Client) afterReply(o op, cn *conn, err error) error {
	switch o.typ {
	case cmdWrite:
		if errors.Is(err, errRefused) {
			cn.fail(errors.New("connection closed by the daemon after a failed write"))
		}
	case cmdWatch:
		if err == nil {
			c.watches = append(c.watches, o.path)
		}
	case cmdUnwatch:
		if err == nil || errors.Is(err, ErrNotFound) {
			if i := slices.Index(c.watches, o.path); i >= 0 {
				c.watches = slices.Delete(c.watches, i, i+1)
			}
		}
	}
	return err
}

// lostConnection reports whether err is the end of the connection rather
// than something the daemon said or a violation of the protocol.
func lostConnection(err error) bool {
	return err != nil && !errors.Is(err, errProtocol) && !errors.Is(err, errRefused) &&
		!errors.Is(err, ErrNotFound) && !errors.Is(err, ErrClosed) && !errors.Is(err, errTimeout)
}

var errTimeout = errors.New("no reply from the daemon")

// roundTrip sends msg on cn and collects the reply. c.mu is held.
func (c *Client) roundTrip(cn *conn, o op, msg []byte) (reply, error) {
	cn.mu.Lock()
	cn.expect = &o
	cn.mu.Unlock()
	// One write for the whole message: the daemon blocks on a partial one.
	if _, err := cn.nc.Write(msg); err != nil {
		cn.fail(err)
		return reply{}, err
	}
	timer := time.NewTimer(replyTimeout)
	defer timer.Stop()
	select {
	case frames := <-cn.replies:
		r, err := interpret(o, frames)
		if errors.Is(err, errProtocol) {
			cn.fail(err)
		}
		return r, err
	case <-cn.done:
		return reply{}, cn.err
	case <-timer.C:
		cn.fail(errTimeout)
		return reply{}, errTimeout
	case <-c.closing:
		return reply{}, ErrClosed
	}
}

// connLocked returns the current connection, making a new one if it was
// lost. c.mu is held.
func (c *Client) connLocked() (*conn, error) {
	if c.cn != nil && !c.cn.dead() {
		return c.cn, nil
	}
	return c.connectLocked()
}

// connectLocked connects, to the read-write socket if it accepts and to
// the read-only one if not, and registers every watch again. After a lost
// connection with watches set it queues a Reconnected event, behind every
// event the new connection brought while the watches were registered, so
// that a reader that reads again on it misses nothing. c.mu is held.
func (c *Client) connectLocked() (*conn, error) {
	again := c.cn != nil
	nc, ro, err := dial(c.path)
	if err != nil {
		return nil, err
	}
	cn := &conn{
		nc:      nc,
		ro:      ro,
		replies: make(chan []frame),
		done:    make(chan struct{}),
		lost:    c.lost,
	}
	c.wg.Add(1)
	go c.read(cn)
	for _, w := range c.watches {
		o := op{cmdWatch, w}
		if _, err := c.roundTrip(cn, o, encode(o.typ, o.path, nil)); err != nil {
			cn.fail(err)
			return nil, fmt.Errorf("watch %s again after reconnecting: %w", w, err)
		}
	}
	c.cn = cn
	c.ro.Store(ro)
	if again && len(c.watches) > 0 {
		c.events.push(Event{Reconnected: true})
	}
	return cn, nil
}

func dial(path string) (net.Conn, bool, error) {
	nc, err := net.Dial("unix", path)
	if err == nil {
		return nc, false, nil
	}
	ro := ROPath(path)
	nc, roErr := net.Dial("unix", ro)
	if roErr == nil {
		return nc, true, nil
	}
	return nil, false, fmt.Errorf("connect: %w (nor to the read-only socket %s: %v)", dialCause(err), ro, dialCause(roErr))
}

// dialCause returns the cause of a failed dial, as "no such file or
// directory", without the operation and the socket, which the message
// says otherwise.
func dialCause(err error) error {
	var oe *net.OpError
	if !errors.As(err, &oe) {
		return err
	}
	var se *os.SyscallError
	if errors.As(oe.Err, &se) {
		return se.Err
	}
	return oe.Err
}

// keep reconnects after a lost connection while watches are set, so that
// events resume without waiting for the next request.
func (c *Client) keep() {
	defer c.wg.Done()
	for {
		select {
		case <-c.closing:
			return
		case <-c.lost:
		}
		for backoff := 50 * time.Millisecond; ; backoff = min(2*backoff, maxBackoff) {
			c.mu.Lock()
			var err error
			if !c.closed && len(c.watches) > 0 {
				_, err = c.connLocked()
			}
			c.mu.Unlock()
			if err == nil {
				break
			}
			select {
			case <-c.closing:
				return
			case <-time.After(backoff):
			}
		}
	}
}

// read reads cn until it ends: watch events go to the queue, everything
// else to the request in flight, its reply whole. A MULTIREAD of a long
// list is thousands of messages: handed over one at a time, each would
// wake the requester.
func (c *Client) read(cn *conn) {
	defer c.wg.Done()
	br := bufio.NewReader(cn.nc)
	var frames []frame
	for {
		f, err := readFrame(br)
		if err == io.EOF {
			err = errors.New("connection closed by the daemon")
		}
		if err != nil {
			cn.fail(err)
			return
		}
		if f.typ == respWatch {
			ev, err := watchEvent(f)
			if err != nil {
				cn.fail(err)
				return
			}
			c.events.push(ev)
			continue
		}
		cn.mu.Lock()
		o := cn.expect
		last := o != nil && o.last(f)
		if last {
			cn.expect = nil
		}
		cn.mu.Unlock()
		if o == nil {
			cn.fail(protocolErr("daemon sent %s with no request outstanding", typeName(f.typ)))
			return
		}
		frames = append(frames, f)
		if !last {
			continue
		}
		select {
		case cn.replies <- frames:
			frames = nil
		case <-cn.done:
			return
		}
	}
}

// fail ends the connection for the reason err, once.
func (cn *conn) fail(err error) {
	cn.once.Do(func() {
		cn.err = err
		close(cn.done)
		cn.nc.Close()
		select {
		case cn.lost <- struct{}{}:
		default:
		}
	})
}

func (cn *conn) dead() bool {
	select {
	case <-cn.done:
		return true
	default:
		return false
	}
}
