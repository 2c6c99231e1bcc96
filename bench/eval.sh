#!/usr/bin/env bash
# eval.sh times the packet evaluator (compiler/eval) on lists of 10, 100,
# 1,000 and 10,000 rules: with the index that eval.New builds, and walking
# the list (eval.Options.Linear), in the same run. It prints the medians
# and the ratios to the 10-rule figures of the same run, for one packet
# decided by the last rule (BenchmarkEval: the walk's worst case) and for
# lists of every shape and packets of every protocol (BenchmarkEvalMixed),
# and the time to build each evaluator (BenchmarkEvalNew). The issue's
# goal: a packet in under 50 ns at 1,000 rules, and at most 2x the 10-rule
# time.
#
# The benchmarks are in bench/eval_test.go; the test binary is built once
# and run ROUNDS times (5 unless set), every size in every round, so that
# the machine's load weighs on all of them alike.
#
# Usage: bash bench/eval.sh   (from anywhere; ROUNDS=N, BENCHTIME=D as for
# go test -benchtime, 1s unless set)
set -euo pipefail

ROUNDS=${ROUNDS:-5}
BENCHTIME=${BENCHTIME:-1s}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cd "$root"
echo "building the benchmarks..." >&2
go test -c -o "$work/bench.test" ./bench
cd "$root/bench"
echo "timing $ROUNDS rounds on $(nproc) cores..." >&2
# Each round runs the index's benchmarks and the walk's in turn, first the
# one, then the other: what runs first in a process runs a little faster
# or slower.
modes=(index linear)
for ((r = 0; r < ROUNDS; r++)); do
	for m in "${modes[@]}"; do
		"$work/bench.test" -test.run '^$' -test.bench "^BenchmarkEval(Mixed|New)?\$/^$m\$" \
			-test.benchtime "$BENCHTIME" | awk '/^Benchmark/ {sub(/-[0-9]+$/, "", $1); print $1, $3}' >>"$work/runs"
	done
	modes=("${modes[1]}" "${modes[0]}")
done

# med NAME prints the median ns/op of benchmark NAME over the rounds.
med() {
	awk -v n="$1" '$1 == n {print $2}' "$work/runs" | sort -g |
		awk '{v[NR] = $1} END {if (NR == 0) exit 1; print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

# fastest NAME prints the least ns/op of benchmark NAME over the rounds:
# on a shared machine, the round least slowed by other work.
fastest() { awk -v n="$1" '$1 == n {print $2}' "$work/runs" | sort -g | head -1; }

# ratio A B prints A/B as "1.23x".
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a / b}'; }

# table BENCH TITLE prints the ns/packet of BENCH, with and without the
# index, and their ratios to the 10-rule figures.
table() {
	local idx10 lin10 i l n
	idx10=$(med "$1/index/rules=10")
	lin10=$(med "$1/linear/rules=10")
	echo
	echo "$2, median of $ROUNDS rounds (fastest round), ns/packet; ratios of medians to 10 rules"
	printf '%-7s %17s %9s %9s %19s %9s %13s\n' rules index "/index10" "/linear10" linear "/linear10" "linear/index"
	for n in 10 100 1000 10000; do
		i=$(med "$1/index/rules=$n")
		l=$(med "$1/linear/rules=$n")
		printf '%-7s %8.1f (%6.1f) %9s %9s %9.1f (%7.1f) %9s %13s\n' "$n" "$i" "$(fastest "$1/index/rules=$n")" \
			"$(ratio "$i" "$idx10")" "$(ratio "$i" "$lin10")" \
			"$l" "$(fastest "$1/linear/rules=$n")" "$(ratio "$l" "$lin10")" "$(ratio "$l" "$i")"
	done
}

table BenchmarkEval "one packet, decided by the last rule"
table BenchmarkEvalMixed "mixed lists and packets"
echo
echo "building the evaluator, median of $ROUNDS rounds (us)"
printf '%-7s %12s %12s %12s\n' rules index linear index/linear
for n in 10 100 1000 10000; do
	i=$(med "BenchmarkEvalNew/index/rules=$n")
	l=$(med "BenchmarkEvalNew/linear/rules=$n")
	printf '%-7s %12.1f %12.1f %12s\n' "$n" "$(awk -v v="$i" 'BEGIN {print v / 1000}')" \
		"$(awk -v v="$l" 'BEGIN {print v / 1000}')" "$(ratio "$i" "$l")"
done
