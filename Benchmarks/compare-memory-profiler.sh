#!/usr/bin/env bash
# Measures swift-memory-profiler and Python's memory_profiler side by side, in one run on this machine, and
# prints one table: operation, ours, memory_profiler's, ratio. Not part of CI (it takes a few minutes).
#
#   Benchmarks/compare-memory-profiler.sh            from the repository's root or from Benchmarks/
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

echo "== building the release binaries"
swift build -c release --product mprof >/dev/null
swift build -c release --product memory-workload >/dev/null
(cd Benchmarks && swift build -c release --product line-profiler-benchmark >/dev/null)

venv="$root/.build/compare-venv"
if [ ! -x "$venv/bin/mprof" ]; then
    echo "== installing memory-profiler, psutil and matplotlib from PyPI into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet memory-profiler==0.61.0 psutil matplotlib
fi

exec "$venv/bin/python" "$root/Benchmarks/compare/compare.py" \
    --mprof "$root/.build/release/mprof" \
    --workload "$root/.build/release/memory-workload" \
    --line-benchmark "$root/Benchmarks/.build/release/line-profiler-benchmark" \
    --python-mprof "$venv/bin/mprof"
