#!/usr/bin/env bash
# Measures the heap profiler (`mprof run --heap`, `mprof heap`) and heaptrack side by side on one allocation-heavy
# Swift workload, in one run on this machine, and prints one markdown table: wall time (median of the rounds), the
# ratio to the plain run, the time each tool adds per allocation, the capture's size and the time to report on it.
# Then, once, the analysis of a big capture: `heap-workload mixed N` (--big, default 10,000,000 allocations) under
# each tool, and the median of 3 runs of `mprof heap` and of `heaptrack_print -f` on it. Not part of CI (it takes
# about two minutes).
#
#   Benchmarks/heap-side-by-side.sh [--rounds R] [--allocations M] [--workload churn|mixed]     from anywhere
#
# The workload is `heap-workload churn-only M` (default M = 4,000,000: M temporary 160-byte arrays from one site,
# about 0.21 s plain on the 2-core CI machine), or with --workload mixed `heap-workload mixed M` (M arrays of 61
# sizes from two sites, each living for 1000 allocations; about 0.28 s). Each round times, one after the other: the
# plain workload, `heaptrack -o FILE` (including heaptrack's interpret step, which its wrapper script waits for) and
# `mprof run --heap -o FILE.dat` (capture FILE.heap beside it) and `mprof run --heap --aggregate` (counters per
# site instead of events), then `heaptrack_print -f` and `mprof heap` on the captures. Wall clock from `date +%s.%N`. The allocation count is heaptrack_print's "calls to allocation functions".
# Until `mprof run --heap` exists (its --help lists no --heap, or it fails with an unknown-option error) its columns
# say n/a and the rest is measured.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

rounds=5
allocations=4000000
big=10000000
workload_kind=churn
usage="usage: Benchmarks/heap-side-by-side.sh [--rounds R] [--allocations M] [--workload churn|mixed] [--big N]"
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=${2:-}; shift 2 || { echo "$usage" >&2; exit 2; } ;;
        --rounds=*) rounds=${1#*=}; shift ;;
        --allocations) allocations=${2:-}; shift 2 || { echo "$usage" >&2; exit 2; } ;;
        --allocations=*) allocations=${1#*=}; shift ;;
        --big) big=${2:-}; shift 2 || { echo "$usage" >&2; exit 2; } ;;
        --big=*) big=${1#*=}; shift ;;
        --workload) workload_kind=${2:-}; shift 2 || { echo "$usage" >&2; exit 2; } ;;
        --workload=*) workload_kind=${1#*=}; shift ;;
        -h | --help) echo "$usage"; exit 0 ;;
        *) echo "heap-side-by-side.sh: unknown argument '$1'; $usage" >&2; exit 2 ;;
    esac
done
for value in "$rounds" "$allocations" "$big"; do
    if ! [[ "$value" =~ ^[1-9][0-9]*$ ]]; then
        echo "heap-side-by-side.sh: '$value' is not a positive integer; $usage" >&2
        exit 2
    fi
done
case "$workload_kind" in
    churn) subcommand=churn-only ;;
    mixed) subcommand=mixed ;;
    *) echo "heap-side-by-side.sh: --workload is churn or mixed, not '$workload_kind'; $usage" >&2; exit 2 ;;
esac
for tool in heaptrack heaptrack_print; do
    if ! command -v "$tool" >/dev/null; then
        echo "heap-side-by-side.sh: $tool not found (apt-get install heaptrack)" >&2
        exit 1
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/heap-side-by-side.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== building the release binaries"
if ! swift build -c release --product heap-workload >"$work/build.log" 2>&1; then
    tail -n 30 "$work/build.log" >&2
    echo "heap-side-by-side.sh: building heap-workload failed" >&2
    exit 1
fi
workload="$root/.build/release/heap-workload"
# MPROF names another mprof (not built here), to try the mprof columns with a stand-in.
mprof=${MPROF:-$root/.build/release/mprof}
mprof_note=""
if [ -z "${MPROF:-}" ] \
    && ! { swift build -c release --product mprof && swift build -c release --product mprof-heap-hook; } \
        >"$work/build-mprof.log" 2>&1; then
    tail -n 15 "$work/build-mprof.log" >&2
    mprof_note="mprof or mprof-heap-hook did not build (see above)"
fi

command=("$workload" "$subcommand" "$allocations")

# Whether `mprof run --heap` exists. Before it does, `mprof run --help` lists no --heap, and `mprof run --heap ...`
# fails: as ArgumentParser's "Unknown option '--heap'", or (since run passes its command line through) as "cannot
# run --heap: not found on PATH". Either skips the mprof columns; any other failure fails the benchmark.
if [ -z "$mprof_note" ]; then
    "$mprof" run --help >"$work/run-help.txt" 2>&1 || true
    if ! grep -q -- "--heap" "$work/run-help.txt"; then
        mprof_note="mprof run --heap is not implemented yet (mprof run --help lists no --heap)"
    elif ! "$mprof" run --heap -o "$work/probe.dat" "$workload" churn-only 1 >"$work/probe.out" 2>&1; then
        if grep -qi -e "unknown option" -e "cannot run --heap" "$work/probe.out"; then
            why=$(grep -i -m1 -e "unknown option" -e "cannot run --heap" "$work/probe.out")
            mprof_note="mprof run --heap is not implemented yet ($why)"
        else
            cat "$work/probe.out" >&2
            echo "heap-side-by-side.sh: mprof run --heap failed" >&2
            exit 1
        fi
    elif [ ! -s "$work/probe.heap" ]; then
        echo "heap-side-by-side.sh: mprof run --heap -o $work/probe.dat wrote no $work/probe.heap" >&2
        exit 1
    fi
fi
[ -n "$mprof_note" ] && echo "== skipping the mprof columns: $mprof_note"

# Runs its arguments with output discarded (status checked) and prints the wall time in seconds.
seconds() {
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || { echo "heap-side-by-side.sh: failed: $*" >&2; return 1; }
    end=$(date +%s.%N)
    awk -v s="$start" -v e="$end" 'BEGIN { printf "%.4f\n", e - s }'
}

median() {
    printf '%s\n' "$@" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# The capture heaptrack wrote for -o BASE: BASE.zst or BASE.gz, whichever this heaptrack writes.
heaptrack_capture() {
    local file
    for file in "$1".zst "$1".gz "$1"; do
        [ -f "$file" ] && { echo "$file"; return 0; }
    done
    echo "heap-side-by-side.sh: heaptrack wrote no capture for -o $1" >&2
    return 1
}

echo "== warming up"
seconds "${command[@]}" >/dev/null

plain=() heaptrack_times=() heaptrack_sizes=() heaptrack_print_times=()
mprof_times=() mprof_sizes=() mprof_report_times=()
aggregate_times=() aggregate_sizes=() aggregate_report_times=()
for round in $(seq 1 "$rounds"); do
    echo "== round $round of $rounds"
    plain+=("$(seconds "${command[@]}")")

    heaptrack_times+=("$(seconds heaptrack -o "$work/heaptrack.$round" "${command[@]}")")
    capture=$(heaptrack_capture "$work/heaptrack.$round")
    heaptrack_sizes+=("$(stat -c %s "$capture")")
    heaptrack_print_times+=("$(seconds heaptrack_print -f "$capture")")
    if [ "$round" = 1 ]; then heaptrack_print -f "$capture" >"$work/heaptrack_print.txt" 2>/dev/null; fi
    rm -f "$capture"

    if [ -z "$mprof_note" ]; then
        mprof_times+=("$(seconds "$mprof" run --heap -o "$work/mprof.$round.dat" "${command[@]}")")
        [ -s "$work/mprof.$round.heap" ] || { echo "heap-side-by-side.sh: no $work/mprof.$round.heap" >&2; exit 1; }
        mprof_sizes+=("$(stat -c %s "$work/mprof.$round.heap")")
        mprof_report_times+=("$(seconds "$mprof" heap "$work/mprof.$round.heap")")
        rm -f "$work/mprof.$round.dat" "$work/mprof.$round.heap"
        aggregate_times+=("$(seconds "$mprof" run --heap --aggregate -o "$work/aggregate.$round.dat" "${command[@]}")")
        aggregate_sizes+=("$(stat -c %s "$work/aggregate.$round.heap")")
        aggregate_report_times+=("$(seconds "$mprof" heap "$work/aggregate.$round.heap")")
        rm -f "$work/aggregate.$round.dat" "$work/aggregate.$round.heap"
    fi
done

calls=$(sed -n 's/^calls to allocation functions: \([0-9]*\).*/\1/p' "$work/heaptrack_print.txt")
[ -n "$calls" ] || { echo "heap-side-by-side.sh: no allocation count in heaptrack_print's output" >&2; exit 1; }

plain_median=$(median "${plain[@]}")
# One column of the table: wall time, ratio, ns added per allocation, capture bytes, bytes per million
# allocations, report time; arguments: run-time median, capture-size median, report-time median.
column() {
    awk -v t="$1" -v p="$plain_median" -v n="$calls" -v size="$2" -v report="$3" 'BEGIN {
        printf "%.3f|%.1fx|%.0f|%d|%.0f|%.3f\n", t, t / p, (t - p) / n * 1e9, size, size / n * 1e6, report }'
}
heaptrack_column=$(column "$(median "${heaptrack_times[@]}")" "$(median "${heaptrack_sizes[@]}")" \
    "$(median "${heaptrack_print_times[@]}")")
if [ -z "$mprof_note" ]; then
    mprof_column=$(column "$(median "${mprof_times[@]}")" "$(median "${mprof_sizes[@]}")" \
        "$(median "${mprof_report_times[@]}")")
    aggregate_column=$(column "$(median "${aggregate_times[@]}")" "$(median "${aggregate_sizes[@]}")" \
        "$(median "${aggregate_report_times[@]}")")
else
    mprof_column="n/a|n/a|n/a|n/a|n/a|n/a"
    aggregate_column=$mprof_column
fi

IFS='|' read -r ht_time ht_ratio ht_ns ht_size ht_per_million ht_report <<<"$heaptrack_column"
IFS='|' read -r mp_time mp_ratio mp_ns mp_size mp_per_million mp_report <<<"$mprof_column"
IFS='|' read -r ag_time ag_ratio ag_ns ag_size ag_per_million ag_report <<<"$aggregate_column"
echo
echo "Workload: \`heap-workload $subcommand $allocations\` (release), $calls allocations (heaptrack_print's \"calls to"
echo "allocation functions\"), medians of $rounds rounds on $(nproc) cores."
echo
echo "| | plain | heaptrack | mprof run --heap | mprof run --heap --aggregate |"
echo "|---|---:|---:|---:|---:|"
printf '| wall time (s) | %.3f | %s | %s | %s |\n' "$plain_median" "$ht_time" "$mp_time" "$ag_time"
printf '| ratio to plain | 1.0x | %s | %s | %s |\n' "$ht_ratio" "$mp_ratio" "$ag_ratio"
printf '| added time per allocation (ns) | | %s | %s | %s |\n' "$ht_ns" "$mp_ns" "$ag_ns"
printf '| capture size (bytes) | | %s | %s | %s |\n' "$ht_size" "$mp_size" "$ag_size"
printf '| capture bytes per million allocations | | %s | %s | %s |\n' "$ht_per_million" "$mp_per_million" "$ag_per_million"
printf '| report time (s): heaptrack_print -f / mprof heap | | %s | %s | %s |\n' "$ht_report" "$mp_report" "$ag_report"
[ -n "$mprof_note" ] && { echo; echo "mprof: $mprof_note."; }
echo
echo "Rounds (s): plain ${plain[*]}; heaptrack ${heaptrack_times[*]}${mprof_times:+; mprof ${mprof_times[*]}}${aggregate_times:+; aggregate ${aggregate_times[*]}}"

if [ -z "$mprof_note" ]; then
    echo
    echo "== a big capture: heap-workload mixed $big, once under each tool, then 3 reports each"
    big_command=("$workload" mixed "$big")
    "$mprof" run --heap -o "$work/big.dat" "${big_command[@]}" >/dev/null 2>&1
    heaptrack -o "$work/big-heaptrack" "${big_command[@]}" >/dev/null 2>&1
    big_capture=$(heaptrack_capture "$work/big-heaptrack")
    mprof_big=() heaptrack_big=()
    for round in 1 2 3; do
        mprof_big+=("$(seconds "$mprof" heap "$work/big.heap")")
        heaptrack_big+=("$(seconds heaptrack_print -f "$big_capture")")
    done
    big_calls=$(heaptrack_print -f "$big_capture" 2>/dev/null | sed -n 's/^calls to allocation functions: \([0-9]*\).*/\1/p')
    echo
    echo "| a capture of $big_calls allocations (mixed $big) | heaptrack_print -f | mprof heap |"
    echo "|---|---:|---:|"
    printf '| report time, median of 3 (s) | %s | %s |\n' "$(median "${heaptrack_big[@]}")" "$(median "${mprof_big[@]}")"
    printf '| capture size (bytes) | %s | %s |\n' "$(stat -c %s "$big_capture")" "$(stat -c %s "$work/big.heap")"
fi
