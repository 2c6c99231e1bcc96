// Package qubesdb is a client of QubesDB, the key-value store through which
// dom0 tells a qube its configuration, over the local daemon's UNIX socket.
//
// It speaks the daemon's wire protocol itself, without libqubesdb or cgo:
// every message is a 72-byte header (type, a NUL-terminated path of at most
// 63 characters, three bytes of padding, the data length in host byte order)
// followed by the data. A [Client] serialises its requests, writes each
// message whole (the daemon is single-threaded and stalls on a partial
// header), and reads the socket in one goroutine that tells the replies from
// the watch events, which the daemon sends at any time, even between a
// request and its reply. Events are queued without bound and never dropped.
//
// The daemon closes the connection after a write that fails in its
// database, and restarts lose every watch. The client therefore reconnects
// by itself, registers its watches again and then delivers an [Event] with
// Reconnected set: events may have been lost meanwhile, and the reader must
// read again what it watches.
//
// Everything the daemon sends is checked where it enters: message types,
// lengths, NUL-terminated paths inside the field, entries within the asked
// prefix. A reply that breaks the protocol is an error and ends the
// connection; it never panics and is never half-believed. Paths and values
// beyond the daemon's limits are refused before they are sent, because the
// daemon would cut a 64-character path to 63 and accept it.
//
// Package qubesdbtest beside this one is an in-process server that answers
// byte for byte as the real daemon does, for tests.
package qubesdb
