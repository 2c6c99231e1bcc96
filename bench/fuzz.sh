#!/usr/bin/env bash
# fuzz.sh runs every native Go fuzz target of the module, one at a time, for
# FUZZTIME each (60s unless set), and prints a table: target, package,
# result, executions, and the new corpus entries the run found (inputs that
# reached new code; go keeps them in its cache, under $(go env
# GOCACHE)/fuzz, and the next run starts from them).
#
# The targets are found with `go test -list '^Fuzz' ./...`, so new ones join
# without editing this script. `go test` alone runs only the seed corpora
# (the f.Add calls and testdata/fuzz/FuzzX/); this script is what searches
# beyond them. A target that fails leaves the failing input in its
# package's testdata/fuzz/FuzzX/, where `go test` replays it from then on:
# fix the cause, and commit the file as the regression test.
#
# Usage: bash bench/fuzz.sh [REGEXP]   (from anywhere)
#   REGEXP    run only the targets whose "package.FuzzX" matches (grep -E)
#   FUZZTIME  time per target, as go test -fuzztime takes it (60s, 10000x)
#   FUZZLOGS  keep each target's log in this directory (a temporary one,
#             removed on exit, unless set)
#   FUZZFLAGS more go test flags, such as "-parallel 1"
# A run that ends in "context deadline exceeded" without a failing input is
# a flake of Go's fuzzing coordinator, not a failure (see below).
# It exits 1 if any target failed.
set -euo pipefail

FUZZTIME=${FUZZTIME:-60s}
filter=${1:-}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if [[ -n ${FUZZLOGS:-} ]]; then
	logs=$FUZZLOGS
	mkdir -p "$logs"
else
	logs=$(mktemp -d)
	trap 'rm -rf "$logs"' EXIT
fi

# go test -list prints a package's target names, then "ok <package> ...".
targets=()
pending=()
while read -r first second _; do
	case $first in
	Fuzz*) pending+=("$first") ;;
	ok)
		for t in "${pending[@]}"; do
			if [[ -z $filter ]] || grep -Eq -- "$filter" <<<"$second.$t"; then
				targets+=("$second $t")
			fi
		done
		pending=()
		;;
	FAIL | "#"*)
		echo "fuzz.sh: go test -list failed; run go vet ./... to see why" >&2
		exit 1
		;;
	esac
done < <(go test -list '^Fuzz' ./... 2>&1)

if ((${#targets[@]} == 0)); then
	echo "fuzz.sh: no fuzz target matches ${filter:-anything}" >&2
	exit 1
fi
echo "fuzzing ${#targets[@]} targets for $FUZZTIME each" >&2

rows=()
failed=0
for entry in "${targets[@]}"; do
	read -r pkg name <<<"$entry"
	log="$logs/${pkg//\//_}.$name.log"
	echo "--- $name ($pkg)" >&2
	start=$(date +%s)
	result=ok
	# shellcheck disable=SC2086 # FUZZFLAGS is a list of flags
	if ! go test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" ${FUZZFLAGS:-} "$pkg" >"$log" 2>&1; then
		if grep -q '^    context deadline exceeded$' "$log" && ! grep -q 'Failing input written to' "$log"; then
			# Go's fuzzing coordinator can report the end of a timed run
			# as this error when a worker is slow to stop (go.dev/issue/75804,
			# fixed in Go 1.27); no input failed.
			result=flake
		else
			result=FAIL
			failed=1
			grep -E '^\s+(fuzz_test|.*_test)\.go:[0-9]+:|Failing input written to|panic:' "$log" | head -5 >&2 || true
		fi
	fi
	secs=$(($(date +%s) - start))
	# The last progress line: "fuzz: elapsed: 1m0s, execs: 123 (2/sec),
	# new interesting: 4 (total: 56)".
	last=$(grep -E '^fuzz: elapsed: .*execs: ' "$log" | tail -1 || true)
	execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")
	fresh=$(sed -nE 's/.*new interesting: ([0-9]+).*/\1/p' <<<"$last")
	rows+=("$(printf '%-28s %-44s %-5s %7ss %12s %6s' "$name" "${pkg#github.com/qfw-dev/qfw/}" "$result" "$secs" "${execs:--}" "${fresh:--}")")
done

printf '%-28s %-44s %-5s %8s %12s %6s\n' target package result time execs new
printf '%s\n' "${rows[@]}"
if ((failed)); then
	echo "fuzz.sh: some targets failed; their inputs are in testdata/fuzz of their packages" >&2
fi
exit "$failed"
