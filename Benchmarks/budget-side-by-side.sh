#!/usr/bin/env bash
# What memory budgets on tests cost per allocation, in one run on this machine: the budget benchmark (a loop of
# malloc and free of 64 bytes, 2,000,000 per round, median of the rounds) without the hook, with the hook preloaded
# (no budget: the cost every test pays under `mprof test`), with the hook tracking every block (as `mprof test` runs
# it, for .noLeaks), and under `mprof run --heap` (every allocation recorded with its stack, the reference the issue
# names). Columns: the loop bare, in a heap scope (a budget's counts), in a scope whose stacks are recorded (a
# failing budget's sites). Prints a markdown table of nanoseconds per allocation. Not part of CI.
#
#   Benchmarks/budget-side-by-side.sh [allocations] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
allocations=${1:-2000000}
rounds=${2:-7}
swift build -c release --product mprof --product mprof-heap-hook >/dev/null
(cd Benchmarks && swift build -c release --product budget-benchmark >/dev/null)
benchmark="$root/Benchmarks/.build/release/budget-benchmark"
hook="$root/.build/release/libmprof-heap-hook.so"
mprof="$root/.build/release/mprof"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

row() { echo "| $1 | $(echo "$2" | awk '{print $2" | "$4" | "$6}') |"; }
echo "| setting | bare ns/alloc | in a scope | in a scope, stacks recorded |"
echo "|---|---|---|---|"
row "no hook" "$("$benchmark" "$allocations" "$rounds")"
row "hook preloaded" "$(LD_PRELOAD="$hook" "$benchmark" "$allocations" "$rounds")"
row "hook tracking every block (mprof test)" "$(LD_PRELOAD="$hook" MPROF_HEAP_TRACK_BLOCKS=1 "$benchmark" "$allocations" "$rounds")"
row "mprof run --heap" "$("$mprof" run --heap -o "$scratch/run.dat" "$benchmark" "$allocations" "$rounds" 2>/dev/null)"
