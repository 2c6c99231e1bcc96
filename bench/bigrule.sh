#!/usr/bin/env bash
# bigrule.sh times `qfw vet` on policies whose qubes have one rule of N
# destinations (policygen.BigRule), for N = 1,000, 10,000 and 100,000,
# and prints the time per destination and how it grows from one size to
# the next: a growth near 1x is time linear in N.
#
# Above about 1,300 destinations the lists are longer than Qubes accepts,
# so vet refuses them, with one error per qube and limit; the time is that
# of reaching the verdict (the whole analysis runs first), and the script
# checks that the verdict is that one. It runs each size once to warm up,
# then ROUNDS rounds (3 unless set), and takes the medians.
#
# Usage: bash bench/bigrule.sh   (from anywhere; ROUNDS=N, SIZES="N...")
set -euo pipefail

ROUNDS=${ROUNDS:-3}
SIZES=${SIZES:-1000 10000 100000}
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# vet_ms P runs qfw vet on policy P and prints its wall time in ms. A list
# within Qubes' limits must pass; one over them must fail with the limit
# errors alone, one of each kind per qube at most.
vet_ms() {
	local t0 t1 rc=0
	t0=$(date +%s%N)
	./qfw vet "$1" --now "$now" >"$work/stdout" 2>"$work/stderr" || rc=$?
	t1=$(date +%s%N)
	local errs limits
	errs=$(grep -cv -e ': warning: ' -e '^    ' "$work/stderr" || true)
	limits=$(grep -c -e "over qubesd's limit" -e 'rules; at most 9999' "$work/stderr" || true)
	if ((rc > 1)) || ((rc == 1 && (errs != limits || errs > 6))) || ((rc == 0 && errs > 0)); then
		echo "unexpected result of qfw vet $1 (exit $rc):" >&2
		grep -v ': warning: ' "$work/stderr" | head >&2
		exit 1
	fi
	echo $(((t1 - t0) / 1000000))
}

echo "timing $ROUNDS rounds on $(nproc) cores..." >&2
declare -A med
for n in $SIZES; do
	./genpolicy -destinations "$n" "big$n"
	vet_ms "big$n" >/dev/null
	runs=()
	for ((r = 0; r < ROUNDS; r++)); do
		runs+=("$(vet_ms "big$n")")
	done
	echo "$n destinations: qfw vet ms: ${runs[*]}" >&2
	med[$n]=$(median "${runs[@]}")
done

echo
echo "$(go version | cut -d' ' -f3-), $(nproc) cores, median of $ROUNDS rounds"
printf '%-14s %12s %14s %18s\n' destinations "qfw vet" "per dst" "growth per dst"
prev=
for n in $SIZES; do
	growth=
	if [[ -n $prev ]]; then
		growth=$(awk -v a="${med[$n]}" -v n="$n" -v b="${med[$prev]}" -v m="$prev" 'BEGIN {printf "%.2fx", (a / n) / (b / m)}')
	fi
	printf '%-14s %9s ms %11s µs %18s\n' "$n" "${med[$n]}" \
		"$(awk -v a="${med[$n]}" -v n="$n" 'BEGIN {printf "%.1f", a * 1000 / n}')" "$growth"
	prev=$n
done
