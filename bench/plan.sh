#!/usr/bin/env bash
# plan.sh times `qfw plan --state` over a policy of 1,000 qubes x 20 rules,
# against `qfw compile` of the same policy in the same run (plan compiles,
# then reads and diffs every qube's list) and `cue export` of its files (the
# share of the time that is CUE evaluation).
#
# The state is the compiled lists with every tenth qube's list changed: its
# first rule removed and a rule added at the end. Each command runs once to
# warm up, then ROUNDS times (5 unless set), alternating; the script prints
# the medians and ratios. The issue's goal: plan under 1 s on 1,000 qubes.
#
# Usage: bash bench/plan.sh   (from anywhere; ROUNDS=N to change rounds)
set -euo pipefail

ROUNDS=${ROUNDS:-5}
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

./genpolicy -qubes 1000 -rules 20 p
./qfw compile p --now "$now" -o state 2>/dev/null
n=0
for f in state/*.rules; do
	if ((n++ % 10 == 0)); then
		{ tail -n +2 "$f"; echo "action=accept proto=tcp dstports=8080-8080"; } >"$f.new"
		mv "$f.new" "$f"
	fi
done

plan() { ms ./qfw plan p --now "$now" --state state; }
compile() { ms ./qfw compile p --now "$now"; }
cue_export() { ms ./cue export ./p --out json --outfile p.json --force; }

plan >/dev/null
compile >/dev/null
cue_export >/dev/null
p=() c=() e=()
echo "timing $ROUNDS rounds on $(nproc) cores..." >&2
for ((r = 0; r < ROUNDS; r++)); do
	if ((r % 2 == 0)); then
		p+=("$(plan)") c+=("$(compile)") e+=("$(cue_export)")
	else
		e+=("$(cue_export)") c+=("$(compile)") p+=("$(plan)")
	fi
done
echo "plan ms:       ${p[*]}" >&2
echo "compile ms:    ${c[*]}" >&2
echo "cue export ms: ${e[*]}" >&2
pm=$(median "${p[@]}") cm=$(median "${c[@]}") em=$(median "${e[@]}")
./qfw plan p --now "$now" --state state 2>/dev/null | tail -1

echo
echo "$(go version | cut -d' ' -f3-), $(nproc) cores, median of $ROUNDS rounds, 1000 qubes x 20 rules"
echo "qfw plan --state:  $pm ms   (goal < 1000 ms: $(awk -v a="$pm" 'BEGIN {print (a < 1000) ? "met" : "NOT met"}'))"
echo "qfw compile:       $cm ms   plan/compile $(ratio "$pm" "$cm")"
echo "cue export:        $em ms   plan/cue $(ratio "$pm" "$em"); evaluating the files alone is $(awk -v a="$em" -v b="$pm" 'BEGIN {printf "%.0f%%", 100 * a / b}') of plan"
