// Command qfw compiles per-qube firewall policy written in CUE into the
// rules that Qubes OS enforces. See `qfw help` and the README.
package main

import "os"

func main() { os.Exit(Main()) }
