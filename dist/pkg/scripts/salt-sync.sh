#!/bin/sh
# qfw's Salt state came, changed or went: Salt runs state modules from its
# cache, which holds what /srv/salt/_states held at the last sync. Clear
# the cache and sync, as the Qubes packages of Salt states do, so that the
# next qubesctl run uses this package's qfw.applied. Where qubesctl is
# missing there is nothing to sync; a failed sync must not fail the
# package's installation or removal (qubesctl saltutil.sync_all does it
# again by hand).
if command -v qubesctl >/dev/null 2>&1; then
	qubesctl saltutil.clear_cache -l quiet --out quiet >/dev/null 2>&1 || :
	qubesctl saltutil.sync_all refresh=true -l quiet --out quiet >/dev/null 2>&1 || :
fi
