#!/usr/bin/env bash
# bigrule.sh times `qfw vet` on policies whose qubes have one rule of N
# destinations (policygen.BigRule), for N = 1,000, 10,000 and 100,000,
# and prints the time per destination, wall and CPU, and how it grows
# from one size to the next: a growth near 1x is time linear in N.
#
# Above about 1,300 destinations the lists are longer than Qubes accepts,
# so vet refuses them, with one error per qube and limit; the time is that
# of reaching the verdict (the whole analysis runs first), and the script
# checks that the verdict is that one. It runs each size once to warm up,
# then ROUNDS rounds (3 unless set), and takes the medians. Beside it, the
# CPU time of `cue export` of the same files is the floor any CUE-based
# compiler stands on: CUE's own evaluation of a long list literal grows with
# the square of its length, so the column "x cue" says how much qfw adds.
#
# Usage: bash bench/bigrule.sh   (from anywhere; ROUNDS=N, SIZES="N...")
set -euo pipefail

ROUNDS=${ROUNDS:-3}
SIZES=${SIZES:-1000 10000 100000}
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# vet_ms P runs qfw vet on policy P and prints its wall time and its CPU
# time (user and system), in ms: on a shared machine the CPU time varies
# less. A list within Qubes' limits must pass; one over them must fail
# with the limit errors alone, one of each kind per qube at most.
vet_ms() {
	local rc=0 t TIMEFORMAT='%3R %3U %3S'
	t=$( { time ./qfw vet "$1" --now "$now" >"$work/stdout" 2>"$work/stderr" || rc=$?; echo "rc $rc" >"$work/rc"; } 2>&1)
	rc=$(awk '{print $2}' "$work/rc")
	local errs limits
	errs=$(grep -cv -e ': warning: ' -e '^    ' "$work/stderr" || true)
	limits=$(grep -c -e "over qubesd's limit" -e 'rules; at most 9999' "$work/stderr" || true)
	if ((rc > 1)) || ((rc == 1 && (errs != limits || errs > 6))) || ((rc == 0 && errs > 0)); then
		echo "unexpected result of qfw vet $1 (exit $rc):" >&2
		grep -v ': warning: ' "$work/stderr" | head >&2
		exit 1
	fi
	awk '{printf "%d %d\n", $1 * 1000, ($2 + $3) * 1000}' <<<"$t"
}

# cue_ms P prints the CPU time, in ms, of cue export of policy P.
cue_ms() {
	local t TIMEFORMAT='%3U %3S'
	t=$( { time ./cue export "./$1" --out json --outfile "$work/cue.json" --force >/dev/null; } 2>&1)
	awk '{printf "%d\n", ($1 + $2) * 1000}' <<<"$t"
}

echo "timing $ROUNDS rounds on $(nproc) cores..." >&2
declare -A wall cpu cuecpu
for n in $SIZES; do
	./genpolicy -destinations "$n" "big$n"
	vet_ms "big$n" >/dev/null
	w=() c=() e=()
	for ((r = 0; r < ROUNDS; r++)); do
		read -r a b < <(vet_ms "big$n")
		w+=("$a") c+=("$b") e+=("$(cue_ms "big$n")")
	done
	echo "$n destinations: qfw vet wall ms: ${w[*]}; cpu ms: ${c[*]}; cue export cpu ms: ${e[*]}" >&2
	wall[$n]=$(median "${w[@]}")
	cpu[$n]=$(median "${c[@]}")
	cuecpu[$n]=$(median "${e[@]}")
done

# per N MS prints MS per destination in µs. growth N M TIMES prints the
# ratio of the time per destination at N to that at M, the size before
# (none for the first), with TIMES the name of the array of medians.
per() { awk -v a="$2" -v n="$1" 'BEGIN {printf "%.1f", a * 1000 / n}'; }
growth() {
	local -n t=$3
	[[ -z $2 ]] || awk -v a="${t[$1]}" -v n="$1" -v b="${t[$2]}" -v m="$2" 'BEGIN {printf "%.2fx", (a / n) / (b / m)}'
}

echo
echo "$(go version | cut -d' ' -f3-), $(nproc) cores, median of $ROUNDS rounds"
printf '%-13s %10s %10s %8s %10s %10s %8s %13s %8s\n' destinations wall "µs/dst" growth cpu "µs/dst" growth "cue cpu" "x cue"
prev=
for n in $SIZES; do
	printf '%-13s %7s ms %10s %8s %7s ms %10s %8s %10s ms %8s\n' "$n" \
		"${wall[$n]}" "$(per "$n" "${wall[$n]}")" "$(growth "$n" "$prev" wall)" \
		"${cpu[$n]}" "$(per "$n" "${cpu[$n]}")" "$(growth "$n" "$prev" cpu)" \
		"${cuecpu[$n]}" "$(ratio "${cpu[$n]}" "${cuecpu[$n]}")"
	prev=$n
done
