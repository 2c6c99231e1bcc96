// Package adminapi speaks the Qubes Admin API: the framing qubesd uses on
// its socket, a client over two transports (the qubesd socket in dom0, and
// qrexec-client-vm from a management qube), and the calls qfw makes.
//
// A call is one connection: a header "<method>+<argument> <source>
// <dest-type> <destination>", a NUL, the payload, and end of input; the
// answer, read to end of input, starts with a digit and a NUL: "0" for
// success with the content after it, "2" for an exception with its type,
// a traceback (usually empty) and its message, each ended by a NUL. An
// empty answer is qubesd's reply to a request it could not handle at all
// (a firewall rule it refuses, a framing error, a request over 64 KiB).
package adminapi
