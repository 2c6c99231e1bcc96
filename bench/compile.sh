#!/usr/bin/env bash
# compile.sh times `qfw compile` against `cue export` of the same policy
# files, the floor that CUE evaluation sets, both as built from this module
# (the cue command at the version qfw uses).
#
# It generates a policy of 1,000 qubes x 20 rules and one of 30 x 20, runs
# qfw compile, cue export, and cue export of the files with qfw's schema
# alternately over ROUNDS rounds (7 unless set), after one warm-up run
# each, and prints the medians and the ratios of qfw to each. Then it
# measures the peak memory (maximum resident set size, by GNU time) of
# qfw compile and cue export on 1,000 qubes, alternately over the same
# rounds. The issue's goals: at most 1.25x cue export's time and 1.3x its
# peak memory on 1,000 qubes, and under 150 ms on 30.
#
# Usage: bash bench/compile.sh   (from anywhere; ROUNDS=N to change rounds)
set -euo pipefail

ROUNDS=${ROUNDS:-7}
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

./genpolicy -qubes 1000 -rules 20 p1000
./genpolicy -qubes 30 -rules 20 p30

# A comparison: the same files plus qfw's schema, closing the policy with
# #Policy, so that cue export also checks the policy against the schema, as
# CUE alone would. (qfw checks qubes and rules in Go instead.)
for p in p1000 p30; do
	cp -r "$p" "$p-schema"
	{ sed 's/^package schema$/package policy/' "$root/schema/schema.cue"; echo '#Policy'; } >"$p-schema/zz_qfw_schema.cue"
done

# Both write their whole result to one file: qfw's rule lists go to
# stdout (which ms sends to a file), cue's JSON to --outfile. (qfw -o DIR
# would write one file per qube instead, a cost of the file system.)
qfw_compile() { ms ./qfw compile "$1" --now "$now"; }
cue_export() { ms ./cue export "./$1" --out json --outfile "$1.json" --force; }
cue_schema() { ms ./cue export "./$1-schema" --out json --outfile "$1-schema.json" --force; }

# bench P runs both commands on policy P: one warm-up each, then ROUNDS
# rounds, alternating which goes first. It sets qfw_ms and cue_ms to the
# medians.
bench() {
	local p=$1 q=() c=() s=() r
	qfw_compile "$p" >/dev/null
	cue_export "$p" >/dev/null
	cue_schema "$p" >/dev/null
	for ((r = 0; r < ROUNDS; r++)); do
		if ((r % 2 == 0)); then
			q+=("$(qfw_compile "$p")")
			c+=("$(cue_export "$p")")
			s+=("$(cue_schema "$p")")
		else
			s+=("$(cue_schema "$p")")
			c+=("$(cue_export "$p")")
			q+=("$(qfw_compile "$p")")
		fi
	done
	echo "$p: qfw compile ms:           ${q[*]}" >&2
	echo "$p: cue export ms:            ${c[*]}" >&2
	echo "$p: cue export + schema ms:   ${s[*]}" >&2
	qfw_ms=$(median "${q[@]}")
	cue_ms=$(median "${c[@]}")
	schema_ms=$(median "${s[@]}")
}

echo "timing $ROUNDS rounds on $(nproc) cores..." >&2
bench p1000
q1000=$qfw_ms c1000=$cue_ms s1000=$schema_ms
bench p30
q30=$qfw_ms c30=$cue_ms s30=$schema_ms

# peak_mb CMD... runs CMD as ms does and prints its peak memory in MB.
peak_mb() {
	/usr/bin/time -o "$work/time" -f %M "$@" >"$work/stdout" 2>"$work/stderr" || {
		echo "failed: $*" >&2
		cat "$work/stderr" >&2
		exit 1
	}
	echo $(($(tail -1 "$work/time") / 1024))
}
qm=() cm=()
for ((r = 0; r < ROUNDS; r++)); do
	if ((r % 2 == 0)); then
		qm+=("$(peak_mb ./qfw compile p1000 --now "$now")")
		cm+=("$(peak_mb ./cue export ./p1000 --out json --outfile p1000.json --force)")
	else
		cm+=("$(peak_mb ./cue export ./p1000 --out json --outfile p1000.json --force)")
		qm+=("$(peak_mb ./qfw compile p1000 --now "$now")")
	fi
done
echo "p1000: qfw compile peak MB:      ${qm[*]}" >&2
echo "p1000: cue export peak MB:       ${cm[*]}" >&2
qmem=$(median "${qm[@]}") cmem=$(median "${cm[@]}")

verdict() { if awk -v ok="$1" 'BEGIN {exit !ok}'; then echo met; else echo "NOT met"; fi; }

echo
echo "$(go version | cut -d' ' -f3-), $("$work/cue" version | head -1), $(nproc) cores, median of $ROUNDS rounds"
printf '%-16s %12s %12s %9s %14s %9s   %s\n' policy "qfw compile" "cue export" qfw/cue "cue + schema" qfw/that goal
printf '%-16s %9s ms %9s ms %9s %11s ms %9s   %s\n' "1000 qubes x 20" "$q1000" "$c1000" "$(ratio "$q1000" "$c1000")" \
	"$s1000" "$(ratio "$q1000" "$s1000")" \
	"qfw/cue <= 1.25x: $(verdict "$(awk -v a="$q1000" -v b="$c1000" 'BEGIN {print (a <= 1.25 * b)}')")"
printf '%-16s %9s ms %9s ms %9s %11s ms %9s   %s\n' "30 qubes x 20" "$q30" "$c30" "$(ratio "$q30" "$c30")" \
	"$s30" "$(ratio "$q30" "$s30")" \
	"qfw < 150 ms: $(verdict "$(awk -v a="$q30" 'BEGIN {print (a < 150)}')")"
echo
printf '%-16s %12s %12s %9s   %s\n' "peak memory" "qfw compile" "cue export" qfw/cue goal
printf '%-16s %9s MB %9s MB %9s   %s\n' "1000 qubes x 20" "$qmem" "$cmem" "$(ratio "$qmem" "$cmem")" \
	"qfw/cue <= 1.3x: $(verdict "$(awk -v a="$qmem" -v b="$cmem" 'BEGIN {print (a <= 1.3 * b)}')")"
