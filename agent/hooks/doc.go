// Package hooks runs the firewall qube's user hooks at start, as the stock
// qubes-firewall service does, so that a user's scripts keep working when
// qfw takes the service over.
//
// The stock service (qubesagent/firewall.py, run_firewall_dir and
// run_user_script), once it has set up its tables and before it tells
// systemd it is ready, runs each executable regular file in
// /etc/qubes/qubes-firewall.d, in the sorted order of their names, then
// each in /rw/config/qubes-firewall.d, then
// /rw/config/qubes-firewall-user-script. The two /rw/config items are
// skipped when the custom-persist service is on
// (/var/run/qubes-service/custom-persist exists): /rw/config is then not
// the user's to trust. It waits for each to end, ignores its exit status,
// and passes over a missing directory and a file that is not executable
// without a word. The hooks write to the service's output, the journal.
//
// qfw does the same, in the same order, with two differences that lose
// nothing: a hook that fails (exits non-zero, is killed, or cannot be
// started) is reported with its path and how it failed, and the next one
// runs; and a file passed over as not executable, or not a regular file,
// is reported too, so that a hook that silently never runs (a missing
// chmod +x, the commonest mistake) shows in the journal.
//
// The hooks are where users add their own nftables rules, to the base
// qubes table's custom-forward and custom-input chains, which qfw leaves
// to them.
package hooks
