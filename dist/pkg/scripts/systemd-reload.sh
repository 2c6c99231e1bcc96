#!/bin/sh
# The drop-in for qubes-firewall.service came, changed or went: a running
# systemd reads it again. The service itself is not restarted: in a
# template nothing runs it, and each firewall qube reads the drop-in at its
# next start; in a running firewall qube, switching between the stock agent
# and qfw agent is a step its user takes (dist/systemd/README.md). A failed
# reload must not fail the package's installation or removal.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || :
fi
