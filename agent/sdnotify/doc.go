// Package sdnotify tells systemd how the service is doing, over the
// sd_notify protocol: newline-separated KEY=VALUE assignments in one
// datagram to the AF_UNIX socket that $NOTIFY_SOCKET names, a leading "@"
// meaning the abstract namespace (sd_notify(3)).
//
// The agent runs as a Type=notify-reload service: READY=1 after its first
// full apply, RELOADING=1 with MONOTONIC_USEC when it takes a SIGHUP, and
// READY=1 again when the reload is done (systemd.service(5)). Outside
// systemd, where $NOTIFY_SOCKET is unset, every function does nothing, so
// that the agent runs the same by hand and in tests.
package sdnotify
