#!/usr/bin/env bash
# review.sh times qfw diff and qfw graph against qfw compile on the same
# generated policy of 1,000 qubes x 20 rules: diff between it and a copy
# in which one rule changes in each of the 100 qubes of its first file
# (lanhost00 loses https), graph of the policy as an HTML page. The
# issue's goal: each at most 2.5x one compile.
#
# It runs one warm-up each, then ROUNDS rounds (5 unless set), alternating
# the order, and prints the medians and the ratios to compile.
#
# Usage: bash bench/review.sh   (from anywhere; ROUNDS=N to change rounds)
set -euo pipefail

ROUNDS=${ROUNDS:-5}
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

./genpolicy -qubes 1000 -rules 20 base
cp -r base head
sed -i 's/\(allow: "lanhost00": {to: "[0-9.]*", service: \)\[services.ssh, services.https\]/\1[services.ssh]/' head/qubes_000.cue
changed=$(grep -c 'allow: "lanhost00": {to: "[0-9.]*", service: \[services.ssh\]' head/qubes_000.cue)

compile() { ./qfw compile base --now "$now"; }
# diff exits 2 when reachability changes, which it must here.
reach_diff() {
	local rc=0
	./qfw diff base head --now "$now" || rc=$?
	[ "$rc" = 2 ]
}
graph() { ./qfw graph base --now "$now"; }

ms compile >/dev/null
ms reach_diff >/dev/null
ms graph >/dev/null
c=() d=() g=()
echo "timing $ROUNDS rounds on $(nproc) cores ($changed qubes with a changed rule)..." >&2
for ((r = 0; r < ROUNDS; r++)); do
	if ((r % 2 == 0)); then
		c+=("$(ms compile)")
		d+=("$(ms reach_diff)")
		g+=("$(ms graph)")
	else
		g+=("$(ms graph)")
		d+=("$(ms reach_diff)")
		c+=("$(ms compile)")
	fi
done
echo "compile ms: ${c[*]}" >&2
echo "diff ms:    ${d[*]}" >&2
echo "graph ms:   ${g[*]}" >&2
cm=$(median "${c[@]}") dm=$(median "${d[@]}") gm=$(median "${g[@]}")
ok() { awk -v a="$1" -v b="$2" 'BEGIN {exit !(a <= 2.5 * b)}' && echo met || echo "NOT met"; }

echo
echo "$(go version | cut -d' ' -f3-), $(nproc) cores, median of $ROUNDS rounds, 1,000 qubes x 20 rules"
printf '%-10s %9s ms %9s   %s\n' compile "$cm" 1.00x ""
printf '%-10s %9s ms %9s   %s\n' diff "$dm" "$(ratio "$dm" "$cm")" "goal <= 2.5x compile: $(ok "$dm" "$cm")"
printf '%-10s %9s ms %9s   %s\n' graph "$gm" "$(ratio "$gm" "$cm")" "goal <= 2.5x compile: $(ok "$gm" "$cm")"
