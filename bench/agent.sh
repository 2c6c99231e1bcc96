#!/usr/bin/env bash
# agent.sh measures qfw's packet path in a firewall qube against the stock
# Qubes agent's (qubes-firewall), in one run, as ratios of figures taken
# side by side:
#
#  (a) a full reload of 100 clients x 100 rules: nftables.Lower and
#      nftables.Apply of qfw's table, against nft -f of the stock agent's
#      text for the same lists (its floor: all clients in one nft -f), each
#      into a network namespace that holds the same ruleset; and the stock
#      agent's own way, one nft -f per client. Goal: qfw <= 0.5x stock.
#  (b) new TCP connections per second from a client whose list has 10 or
#      10,000 rules, the connection allowed by the last, through qfw's
#      ruleset and the stock agent's. Goal: qfw's 10,000-rule rate >= 90%
#      of its 10-rule rate.
#  (c) `qfw agent` driven through QubesDB (an in-process server) as dom0
#      drives it: commit-to-enforced latency for 1 client x 10 rules,
#      1 x 10,000 and 100 x 100 (goal: under 50 ms for 1 x 10,000), against
#      the floor of the stock agent's handling of the same commit; a full
#      reload (SIGHUP) of 100 x 100; the agent's resident memory, idle and
#      during a reload.
#
# Each figure comes from the Go benchmarks of bench/agentbench (see
# bench/README.md), run one at a time. The two sides of a ratio alternate
# within one benchmark, and the ratio is the median of the ratios of
# neighbouring measurements, which the load of a shared machine moves far
# less than the figures themselves. Needs root, nft, ip and sysctl
# (network namespaces). Takes about 4 minutes at ROUNDS=5.
#
# Usage: bash bench/agent.sh   (ROUNDS=N rounds, 5 unless set)
set -euo pipefail

ROUNDS=${ROUNDS:-5}
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if (($(id -u) != 0)); then
	echo "agent.sh needs root: it makes network namespaces" >&2
	exit 1
fi
# The namespace benchmarks fail rather than skip when something is missing.
export CI=true
(cd "$root" && go test -c -o "$work/agentbench.test" ./bench/agentbench)
# The agent's own benchmarks, which run the qfw built above.
(cd "$root" && go test -c -tags qfwagent -o "$work/agentbench-agent.test" ./bench/agentbench)

# run PATTERN BENCHTIME runs one benchmark, its output in $work/bench.out;
# a failure stops the script.
run() {
	local pattern=$1 benchtime=$2
	if ! ./agentbench.test -test.run '^$' -test.bench "$pattern" -test.benchtime "$benchtime" >"$work/bench.out" 2>&1; then
		echo "failed: $pattern" >&2
		cat "$work/bench.out" >&2
		exit 1
	fi
}

# metric UNIT prints the figure the last benchmark run reported in UNIT
# (ns/op, or a metric of its own).
metric() { awk -v unit="$1" '/^Benchmark/ {for (i = 2; i <= NF; i++) if ($i == unit) print $(i - 1)}' "$work/bench.out" | tail -1; }

# num FORMAT X prints X in the printf FORMAT.
num() { awk -v f="$1" -v x="$2" 'BEGIN {printf f, x}'; }
# med FORMAT X... prints the median of the Xs in FORMAT.
med() { num "$1" "$(median "${@:2}")"; }
# range FORMAT X... prints the smallest and the largest X in FORMAT.
range() {
	local f=$1
	shift
	printf '%s\n' "$@" | sort -g | sed -n '1p;$p' | while read -r x; do num "$f" "$x"; echo; done | paste -sd' ' | sed 's/ / to /'
}
# goal A OP B prints "met" if A OP B holds, "NOT met" otherwise.
goal() { awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN {ok = (op == "<=") ? a <= b : (op == ">=") ? a >= b : a < b; print ok ? "met" : "NOT met"}'; }

echo "timing $ROUNDS rounds on $(nproc) cores..." >&2

# (a) full reload of 100 x 100, qfw and stock alternating within the run.
qr=() sr=() rr=() pr=()
for ((r = 0; r < ROUNDS; r++)); do
	run '^BenchmarkReload$' 10x
	qr+=("$(metric qfw-ms)") sr+=("$(metric stock-ms)") rr+=("$(metric qfw/stock)")
	run '^BenchmarkReloadPerClient$' 1x
	pr+=("$(metric ms)")
	echo "reload round $((r + 1)): qfw ${qr[r]} ms, stock ${sr[r]} ms, qfw/stock ${rr[r]}; stock per client ${pr[r]} ms" >&2
done

# (b) new connections per second, 10 and 10,000 rules alternating.
q10=() q10k=() qp=() s10=() s10k=() sp=()
for ((r = 0; r < ROUNDS; r++)); do
	for who in qfw stock; do
		run "^BenchmarkConnRate\$/^$who\$" 3000x
		if [[ $who == qfw ]]; then
			q10+=("$(metric conns/s-10)") q10k+=("$(metric conns/s-10000)") qp+=("$(metric 10000/10-%)")
		else
			s10+=("$(metric conns/s-10)") s10k+=("$(metric conns/s-10000)") sp+=("$(metric 10000/10-%)")
		fi
	done
	echo "conns/s round $((r + 1)): qfw ${q10[r]} / ${q10k[r]} (${qp[r]}%), stock ${s10[r]} / ${s10k[r]} (${sp[r]}%) (10 / 10,000 rules)" >&2
done

# (c) the agent.
agent_status=ran
declare -A lat=()
ar=() rss_idle=() rss_reload=()
# agent_run PATTERN BENCHTIME runs an agent benchmark as run does, but
# a failure ends part (c) only, with the reason in agent_status.
agent_run() {
	if ! ./agentbench-agent.test -test.run '^$' -test.bench "$1" -test.benchtime "$2" -qfw "$work/qfw" >"$work/bench.out" 2>&1; then
		agent_status="failed in $1:
$(grep -v '^\(goos\|goarch\|pkg\|cpu\):' "$work/bench.out" | head -20)"
		return 1
	fi
}
for ((r = 0; r < ROUNDS; r++)); do
	line=""
	for c in 1x10 1x10000 100x100; do
		for who in qfw stock; do
			agent_run "^BenchmarkCommit\$/^$who\$/^$c\$" 20x || break 3
			lat[$who-$c]+="$(metric commit-ms) "
			line+="$who $c $(metric commit-ms) ms, "
		done
	done
	echo "commit-to-enforced round $((r + 1)): ${line%, }" >&2
done
for ((r = 0; r < ROUNDS; r++)); do
	[[ $agent_status == ran ]] || break
	agent_run '^BenchmarkAgentReload$' 3x || break
	ar+=("$(metric reload-ms)") rss_idle+=("$(metric idle-RSS-MiB)") rss_reload+=("$(metric reload-peak-RSS-MiB)")
	echo "agent reload round $((r + 1)): ${ar[r]} ms, resident memory idle ${rss_idle[r]} MiB, peak during reloads ${rss_reload[r]} MiB" >&2
done

echo
echo "$(go version | cut -d' ' -f3-), $(nft --version), kernel $(uname -r), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "medians of $ROUNDS rounds (the range over rounds in brackets)"
echo
echo "(a) full reload, 100 clients x 100 rules, qfw and stock alternating"
m_s=$(median "${sr[@]}") m_r=$(median "${rr[@]}")
echo "  qfw Lower+Apply:            $(med %.0f "${qr[@]}") ms ($(range %.0f "${qr[@]}"))"
echo "  stock, one nft -f:          $(num %.0f "$m_s") ms ($(range %.0f "${sr[@]}"))"
echo "  qfw / stock:                $(num %.3f "$m_r")x ($(range %.3f "${rr[@]}")); goal <= 0.5x: $(goal "$m_r" '<=' 0.5)"
echo "  stock, one nft -f a client: $(med %.0f "${pr[@]}") ms ($(range %.0f "${pr[@]}")), as the agent reloads on SIGHUP"
echo
echo "(b) new TCP connections per second, one client, allowed by its last rule"
m_qp=$(median "${qp[@]}")
echo "  qfw:   $(med %.0f "${q10[@]}")/s at 10 rules, $(med %.0f "${q10k[@]}")/s at 10,000: $(num %.0f "$m_qp")% ($(range %.0f "${qp[@]}")); goal >= 90%: $(goal "$m_qp" '>=' 90)"
echo "  stock: $(med %.0f "${s10[@]}")/s at 10 rules, $(med %.0f "${s10k[@]}")/s at 10,000: $(med %.0f "${sp[@]}")% ($(range %.0f "${sp[@]}"))"
echo
echo "(c) qfw agent: $agent_status"
for c in 1x10 1x10000 100x100; do
	[[ -n ${lat[qfw-$c]:-} && -n ${lat[stock-$c]:-} ]] || continue
	# shellcheck disable=SC2086 # the lists are space-separated figures
	q=$(median ${lat[qfw-$c]}) s=$(median ${lat[stock-$c]})
	line="  commit-to-enforced, $c: qfw agent $(num %.1f "$q") ms ($(range %.1f ${lat[qfw-$c]})), stock floor $(num %.1f "$s") ms: $(ratio "$q" "$s")"
	if [[ $c == 1x10000 ]]; then
		line+="; goal < 50 ms: $(goal "$q" '<' 50)"
	fi
	echo "$line"
done
if ((${#ar[@]} > 0)); then
	m_a=$(median "${ar[@]}")
	echo "  full reload (SIGHUP to READY=1), 100x100: $(num %.0f "$m_a") ms ($(range %.0f "${ar[@]}")), $(ratio "$m_a" "$m_s") the stock one-nft -f reload of (a)"
	echo "  resident memory, 100x100: idle $(med %.1f "${rss_idle[@]}") MiB ($(range %.1f "${rss_idle[@]}")), peak during reloads $(med %.1f "${rss_reload[@]}") MiB ($(range %.1f "${rss_reload[@]}"))"
fi
