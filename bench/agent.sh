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
#      during a reload. Run only where the agent and the QubesDB test
#      server are in the tree; the script says which parts it ran.
#
# Each figure comes from the Go benchmarks of bench/agentbench, run one at a
# time, alternating their order from round to round. Needs root, nft, ip
# and sysctl (network namespaces). Takes about 3 minutes at ROUNDS=5.
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

# run BINARY PATTERN BENCHTIME UNIT [FLAGS...] runs one benchmark and
# prints its figure in UNIT (ns/op or a metric the benchmark reports).
run() {
	local bin=$1 pattern=$2 benchtime=$3 unit=$4
	shift 4
	if ! "$bin" -test.run '^$' -test.bench "$pattern" -test.benchtime "$benchtime" "$@" >"$work/bench.out" 2>&1; then
		echo "failed: $pattern" >&2
		cat "$work/bench.out" >&2
		exit 1
	fi
	awk -v unit="$unit" '/^Benchmark/ {for (i = 2; i <= NF; i++) if ($i == unit) print $(i - 1)}' "$work/bench.out" | tail -1
}

# ms NS prints NS nanoseconds in milliseconds.
to_ms() { awk -v n="$1" 'BEGIN {printf "%.0f", n / 1e6}'; }
# pct A B prints A/B as a percentage.
pct() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f%%", 100 * a / b}'; }
# range prints the smallest and the largest of its arguments.
range() { printf '%s\n' "$@" | sort -g | sed -n '1p;$p' | paste -sd- | sed 's/-/ to /'; }
# ratios A... -- B... prints A[i]/B[i] for each round, with lead's format.
ratios() {
	local -n as=$1 bs=$2
	local i
	for i in "${!as[@]}"; do awk -v a="${as[i]}" -v b="${bs[i]}" -v f="$3" 'BEGIN {printf f "\n", (f ~ /%%/ ? 100 : 1) * a / b}'; done
}

tb=./agentbench.test
echo "timing $ROUNDS rounds on $(nproc) cores..." >&2

# (a) full reload of 100 x 100.
qr=() sr=() pr=()
reload_qfw() { qr+=("$(to_ms "$(run $tb '^BenchmarkReload$/^qfw$' 5x ns/op)")"); }
reload_stock() { sr+=("$(to_ms "$(run $tb '^BenchmarkReload$/^stock$' 5x ns/op)")"); }
reload_per_client() { pr+=("$(to_ms "$(run $tb '^BenchmarkReload$/^stock-per-client$' 1x ns/op)")"); }
for ((r = 0; r < ROUNDS; r++)); do
	if ((r % 2 == 0)); then
		reload_qfw; reload_stock; reload_per_client
	else
		reload_per_client; reload_stock; reload_qfw
	fi
	echo "reload round $((r + 1)): qfw ${qr[r]} ms, stock ${sr[r]} ms, stock per client ${pr[r]} ms" >&2
done

# (b) new connections per second.
q10=() q10k=() s10=() s10k=()
conns() { run $tb "^BenchmarkConnRate\$/^$1\$/^rules=$2\$" 3000x conns/s; }
for ((r = 0; r < ROUNDS; r++)); do
	if ((r % 2 == 0)); then
		q10+=("$(conns qfw 10)") q10k+=("$(conns qfw 10000)") s10+=("$(conns stock 10)") s10k+=("$(conns stock 10000)")
	else
		s10k+=("$(conns stock 10000)") s10+=("$(conns stock 10)") q10k+=("$(conns qfw 10000)") q10+=("$(conns qfw 10)")
	fi
	echo "conns/s round $((r + 1)): qfw ${q10[r]} / ${q10k[r]}, stock ${s10[r]} / ${s10k[r]} (10 / 10,000 rules)" >&2
done

# (c) the agent, where it exists.
agent_status="not run"
declare -A lat=()
agent_reload=() rss_idle=() rss_reload=()
if ! ./qfw agent --help >"$work/agent-help" 2>&1; then
	agent_status="not run: this qfw has no agent command (qfw agent --help failed)"
elif ! grep -q -- --qubesdb "$work/agent-help" || ! grep -q -- --netns "$work/agent-help"; then
	agent_status="not run: qfw agent has no --qubesdb or --netns flag"
elif ! (cd "$root" && go list ./backends/qubesdb/qubesdbtest >/dev/null 2>&1); then
	agent_status="not run: the QubesDB test server (backends/qubesdb/qubesdbtest) is not in the tree"
elif ! (cd "$root" && go test -c -tags qfwagent -o "$work/agentbench-agent.test" ./bench/agentbench) >"$work/agent-build" 2>&1; then
	agent_status="not run: the agent benchmarks do not build: $(head -5 "$work/agent-build")"
else
	agent_status=ran
	ab=./agentbench-agent.test
	# agent_run PATTERN BENCHTIME UNIT runs an agent benchmark as run does,
	# but a failure ends part (c) only: it writes the reason to
	# $work/agent-status for agent_failed.
	agent_run() {
		if ! "$ab" -test.run '^$' -test.bench "$1" -test.benchtime "$2" -qfw "$work/qfw" >"$work/bench.out" 2>&1; then
			echo "failed in $1: $(grep -v '^\(goos\|goarch\|pkg\|cpu\):' "$work/bench.out" | head -20)" >"$work/agent-status"
			return 1
		fi
		awk -v unit="$3" '/^Benchmark/ {for (i = 2; i <= NF; i++) if ($i == unit) print $(i - 1)}' "$work/bench.out" | tail -1
	}
	agent_failed() { agent_status=$(cat "$work/agent-status"); }
	for ((r = 0; r < ROUNDS; r++)); do
		line=""
		for c in 1x10 1x10000 100x100; do
			for who in qfw stock; do
				ns=$(agent_run "^BenchmarkCommit\$/^$who\$/^$c\$" 20x ns/op) || { agent_failed; break 3; }
				lat[$who-$c]+="$(awk -v n="$ns" 'BEGIN {printf "%.1f", n / 1e6}') "
				line+="$who $c ${lat[$who-$c]##* } ms, "
			done
		done
		echo "commit-to-enforced round $((r + 1)): ${line%, }" >&2
	done
	for ((r = 0; r < ROUNDS; r++)); do
		[[ $agent_status == ran ]] || break
		ns=$(agent_run '^BenchmarkAgentReload$' 3x ns/op) || { agent_failed; break; }
		agent_reload+=("$(to_ms "$ns")")
		rss_idle+=("$(awk '/^Benchmark/ {for (i = 2; i <= NF; i++) if ($i == "idle-RSS-MiB") print $(i - 1)}' "$work/bench.out")")
		rss_reload+=("$(awk '/^Benchmark/ {for (i = 2; i <= NF; i++) if ($i == "reload-peak-RSS-MiB") print $(i - 1)}' "$work/bench.out")")
		echo "agent reload round $((r + 1)): ${agent_reload[r]} ms, RSS idle ${rss_idle[r]} MiB, peak during reload ${rss_reload[r]} MiB" >&2
	done
fi

echo
echo "$(go version | cut -d' ' -f3-), $(nft --version), kernel $(uname -r), $(nproc) cores; medians of $ROUNDS rounds (range over rounds)"
echo
echo "(a) full reload, 100 clients x 100 rules"
m_q=$(median "${qr[@]}") m_s=$(median "${sr[@]}") m_p=$(median "${pr[@]}")
echo "  qfw Lower+Apply:           $m_q ms ($(range "${qr[@]}"))"
echo "  stock, one nft -f:         $m_s ms ($(range "${sr[@]}"))"
echo "  stock, nft -f per client:  $m_p ms ($(range "${pr[@]}"))"
mapfile -t rr < <(ratios qr sr "%.2f")
echo "  qfw / stock:               $(ratio "$m_q" "$m_s") (per round $(range "${rr[@]}")); goal <= 0.50x: $(awk -v a="$m_q" -v b="$m_s" 'BEGIN {print (a / b <= 0.5) ? "met" : "NOT met"}')"
echo "  qfw / stock per client:    $(ratio "$m_q" "$m_p")"
echo
echo "(b) new TCP connections per second, one client, allowed by the last rule"
mapfile -t qk < <(ratios q10k q10 "%.0f%%")
mapfile -t sk < <(ratios s10k s10 "%.0f%%")
echo "  qfw:   10 rules $(median "${q10[@]}") /s, 10,000 rules $(median "${q10k[@]}") /s: $(pct "$(median "${q10k[@]}")" "$(median "${q10[@]}")") (per round $(range "${qk[@]%\%}")%); goal >= 90%: $(awk -v a="$(median "${q10k[@]}")" -v b="$(median "${q10[@]}")" 'BEGIN {print (a / b >= 0.9) ? "met" : "NOT met"}')"
echo "  stock: 10 rules $(median "${s10[@]}") /s, 10,000 rules $(median "${s10k[@]}") /s: $(pct "$(median "${s10k[@]}")" "$(median "${s10[@]}")") (per round $(range "${sk[@]%\%}")%)"
echo
echo "(c) qfw agent: $agent_status"
if ((${#lat[@]} > 0)); then
	for c in 1x10 1x10000 100x100; do
		[[ -n ${lat[qfw-$c]:-} && -n ${lat[stock-$c]:-} ]] || continue
		# shellcheck disable=SC2086
		q=$(median ${lat[qfw-$c]}) s=$(median ${lat[stock-$c]})
		echo "  commit-to-enforced, $c: qfw agent $q ms, stock floor $s ms: $(ratio "$q" "$s")"
	done
	if [[ -n ${lat[qfw-1x10000]:-} ]]; then
		# shellcheck disable=SC2086
		echo "  goal < 50 ms for 1x10000: $(awk -v a="$(median ${lat[qfw-1x10000]})" 'BEGIN {print (a < 50) ? "met" : "NOT met"}')"
	fi
fi
if ((${#agent_reload[@]} > 0)); then
	echo "  full reload (SIGHUP), 100x100: $(median "${agent_reload[@]}") ms ($(range "${agent_reload[@]}")): $(ratio "$(median "${agent_reload[@]}")" "$m_s") the stock one-nft -f reload of (a)"
	echo "  resident memory, 100x100: idle $(median "${rss_idle[@]}") MiB, peak during a reload $(median "${rss_reload[@]}") MiB"
fi
