package qubesdb

import "time"

// SetReplyTimeout changes how long requests wait for a reply, for tests of
// a daemon that does not answer; it returns a function that restores it.
func SetReplyTimeout(d time.Duration) (restore func()) {
	old := replyTimeout
	replyTimeout = d
	return func() { replyTimeout = old }
}
