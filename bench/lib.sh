# lib.sh holds what the bench scripts share; they source it after setting
# ROUNDS. It builds qfw, cue (at the version qfw uses) and genpolicy into
# $work, a temporary directory removed on exit, and leaves the script in
# $work, with $root the module's root.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cd "$root"
echo "building qfw, cue and genpolicy..." >&2
go build -o "$work/qfw" ./cmd/qfw
go build -o "$work/cue" cuelang.org/go/cmd/cue
go build -o "$work/genpolicy" ./bench/cmd/genpolicy
cd "$work"

# Expiry is judged at a fixed time, so that every run does the same work.
now=2026-01-01T00:00:00Z

# ms CMD... runs CMD and prints its wall time in milliseconds. Output goes
# to files, as it would in use; warnings on stderr are dropped. A failure
# stops the script.
ms() {
	local t0 t1
	t0=$(date +%s%N)
	"$@" >"$work/stdout" 2>"$work/stderr" || {
		echo "failed: $*" >&2
		cat "$work/stderr" >&2
		exit 1
	}
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}

# median prints the median of its arguments.
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# ratio A B prints A/B as "1.23x".
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a / b}'; }
