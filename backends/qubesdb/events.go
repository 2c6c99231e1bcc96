package qubesdb

import "sync"

// Event is a change the daemon reported for a watched path, or a
// reconnection.
type Event struct {
	// Path is the written or removed path. A removed subtree is reported
	// once, with its trailing '/'. Empty when Reconnected is set.
	Path string
	// Reconnected reports that the connection was lost and made again,
	// with every watch registered again: events may have been lost in
	// between, so whatever is watched must be read again.
	Reconnected bool
}

// eventQueue holds events between the socket reader, which must never
// block on a slow consumer (replies would stall behind it), and the Events
// channel. It grows without bound rather than drop: a lost event is a
// firewall that is never updated.
type eventQueue struct {
	mu     sync.Mutex
	items  []Event
	wake   chan struct{} // capacity 1: items were added
	out    chan Event
	stop   chan struct{}
	doneCh chan struct{}
}

func newEventQueue() *eventQueue {
	q := &eventQueue{
		wake:   make(chan struct{}, 1),
		out:    make(chan Event),
		stop:   make(chan struct{}),
		doneCh: make(chan struct{}),
	}
	go q.pump()
	return q
}

func (q *eventQueue) push(e Event) {
	q.mu.Lock()
	q.items = append(q.items, e)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// pump feeds out from items, in order, until stopped; then it closes out.
func (q *eventQueue) pump() {
	defer close(q.doneCh)
	defer close(q.out)
	for {
		q.mu.Lock()
		if len(q.items) == 0 {
			q.mu.Unlock()
			select {
			case <-q.wake:
				continue
			case <-q.stop:
				return
			}
		}
		e := q.items[0]
		q.mu.Unlock()
		select {
		case q.out <- e:
			q.mu.Lock()
			q.items[0] = Event{}
			q.items = q.items[1:]
			if len(q.items) == 0 {
				q.items = nil // let the backing array go after a burst
			}
			q.mu.Unlock()
		case <-q.stop:
			return
		}
	}
}

// close stops the pump and closes the channel; events not yet received are
// dropped, as the client that would report them is gone.
func (q *eventQueue) close() {
	close(q.stop)
	<-q.doneCh
}
