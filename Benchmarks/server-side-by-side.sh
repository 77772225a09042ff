#!/usr/bin/env bash
# Measures the heap profiler and heaptrack side by side on a running server: the example Hummingbird server
# (Examples/HeapServer) under wrk, in one run on this machine, and prints one markdown table: requests per second
# (median of the rounds), the drop in throughput each tool causes, the time from SIGINT to the tool's exit (what a
# user waits for after Ctrl-C: the program's exit, heaptrack's interpret step or mprof's leak scan, naming and
# compression), the capture's size per million allocations. Not part of CI (about a minute a round).
#
#   Benchmarks/server-side-by-side.sh [--rounds R] [--seconds S]     from anywhere
#
# Each round runs, one after the other: the plain server, `heaptrack`, `mprof run --heap` and `mprof run --heap
# --aggregate`, each under `wrk -t1 -c4 -dS` with Examples/HeapServer/requests.lua, then SIGINT to the server (a
# clean shutdown). Allocation counts are heaptrack_print's "calls to allocation functions" and `mprof heap`'s
# "allocations".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

rounds=3
load_seconds=5
usage="usage: Benchmarks/server-side-by-side.sh [--rounds R] [--seconds S]"
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=${2:-}; shift 2 || { echo "$usage" >&2; exit 2; } ;;
        --rounds=*) rounds=${1#*=}; shift ;;
        --seconds) load_seconds=${2:-}; shift 2 || { echo "$usage" >&2; exit 2; } ;;
        --seconds=*) load_seconds=${1#*=}; shift ;;
        -h | --help) echo "$usage"; exit 0 ;;
        *) echo "server-side-by-side.sh: unknown argument '$1'; $usage" >&2; exit 2 ;;
    esac
done
for value in "$rounds" "$load_seconds"; do
    if ! [[ "$value" =~ ^[1-9][0-9]*$ ]]; then
        echo "server-side-by-side.sh: '$value' is not a positive integer; $usage" >&2
        exit 2
    fi
done
for tool in heaptrack heaptrack_print wrk; do
    command -v "$tool" >/dev/null || { echo "server-side-by-side.sh: $tool not found (apt-get install $tool)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/server-side-by-side.XXXXXX")
trap 'pkill -KILL -x heap-server 2>/dev/null || true; rm -rf "$work"' EXIT

echo "== building the release binaries"
if ! { swift build -c release --product mprof && swift build -c release --product mprof-heap-hook \
    && swift build -c release --package-path Examples/HeapServer --scratch-path .build-heap-server; } \
    >"$work/build.log" 2>&1; then
    tail -n 30 "$work/build.log" >&2
    echo "server-side-by-side.sh: the build failed" >&2
    exit 1
fi
mprof=$root/.build/release/mprof
server=$root/.build-heap-server/release/heap-server
pkill -x heap-server 2>/dev/null && { echo "server-side-by-side.sh: another heap-server is running" >&2; exit 1; }

median() {
    printf '%s\n' "$@" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Serves the load under one tool (plain, heaptrack, mprof) and prints: requests per second, seconds from SIGINT
# to the tool's exit, capture bytes, allocations.
serve() {
    local tool=$1 round=$2 port_file=$work/port pid port rps start end size=0 allocations=0
    rm -f "$port_file"
    case "$tool" in
        plain) "$server" --port 0 --port-file "$port_file" >"$work/$tool.out" 2>&1 & ;;
        heaptrack) heaptrack -o "$work/heaptrack.$round" "$server" --port 0 --port-file "$port_file" >"$work/$tool.out" 2>&1 & ;;
        mprof) "$mprof" run --heap -o "$work/mprof.$round.dat" "$server" --port 0 --port-file "$port_file" >"$work/$tool.out" 2>&1 & ;;
        aggregate) "$mprof" run --heap --aggregate -o "$work/mprof.$round.dat" "$server" --port 0 --port-file "$port_file" >"$work/$tool.out" 2>&1 & ;;
    esac
    pid=$!
    for _ in $(seq 300); do [ -s "$port_file" ] && break; sleep 0.1; done
    port=$(cat "$port_file" 2>/dev/null) || { cat "$work/$tool.out" >&2; echo "server-side-by-side.sh: the server did not start under $tool" >&2; return 1; }
    rps=$(wrk -t1 -c4 -d"${load_seconds}s" -s Examples/HeapServer/requests.lua "http://127.0.0.1:$port/" |
        sed -n 's/^Requests\/sec:[[:space:]]*//p')
    start=$(date +%s.%N)
    pkill -INT -x heap-server
    wait "$pid" || { cat "$work/$tool.out" >&2; echo "server-side-by-side.sh: $tool failed" >&2; return 1; }
    end=$(date +%s.%N)
    case "$tool" in
        heaptrack)
            local capture
            capture=$(ls "$work/heaptrack.$round".* | head -n 1)
            size=$(stat -c %s "$capture")
            allocations=$(heaptrack_print -f "$capture" 2>/dev/null | sed -n 's/^\([0-9]*\) calls to allocation functions.*/\1/p')
            rm -f "$capture" ;;
        mprof | aggregate)
            size=$(stat -c %s "$work/mprof.$round.heap")
            allocations=$("$mprof" heap "$work/mprof.$round.heap" | sed -n 's/^  allocations  \([0-9,]*\) .*/\1/p' | tr -d ,)
            rm -f "$work/mprof.$round.dat" "$work/mprof.$round.heap" ;;
    esac
    echo "$rps $(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }') $size ${allocations:-0}"
}

declare -A rps stop per_million
for tool in plain heaptrack mprof aggregate; do rps[$tool]="" stop[$tool]="" per_million[$tool]=""; done
for round in $(seq 1 "$rounds"); do
    echo "== round $round of $rounds"
    for tool in plain heaptrack mprof aggregate; do
        read -r r s size allocations <<<"$(serve "$tool" "$round")"
        rps[$tool]+=" $r" stop[$tool]+=" $s"
        if [ "$tool" != plain ]; then
            [ "$allocations" -gt 0 ] || { echo "server-side-by-side.sh: no allocation count from $tool" >&2; exit 1; }
            per_million[$tool]+=" $(awk -v b="$size" -v n="$allocations" 'BEGIN { printf "%.0f", b / n * 1e6 }')"
        fi
    done
done

# shellcheck disable=SC2086
{
    plain_rps=$(median ${rps[plain]})
    ht_rps=$(median ${rps[heaptrack]}) mp_rps=$(median ${rps[mprof]}) ag_rps=$(median ${rps[aggregate]})
    ht_stop=$(median ${stop[heaptrack]}) mp_stop=$(median ${stop[mprof]}) plain_stop=$(median ${stop[plain]})
    ag_stop=$(median ${stop[aggregate]})
    ht_bytes=$(median ${per_million[heaptrack]}) mp_bytes=$(median ${per_million[mprof]})
    ag_bytes=$(median ${per_million[aggregate]})
}
drop() { awk -v r="$1" -v p="$plain_rps" 'BEGIN { printf "%.0f", (1 - r / p) * 100 }'; }
ht_drop=$(drop "$ht_rps") mp_drop=$(drop "$mp_rps") ag_drop=$(drop "$ag_rps")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
echo
echo "Server: Examples/HeapServer (release) under \`wrk -t1 -c4 -d${load_seconds}s\`, medians of $rounds rounds on $(nproc) cores."
echo
echo "| | plain | heaptrack | mprof run --heap | mprof run --heap --aggregate |"
echo "|---|---:|---:|---:|---:|"
printf '| requests per second | %.0f | %.0f | %.0f | %.0f |\n' "$plain_rps" "$ht_rps" "$mp_rps" "$ag_rps"
printf '| throughput drop | | %s %% | %s %% (%sx) | %s %% (%sx) |\n' "$ht_drop" "$mp_drop" "$(ratio "$mp_drop" "$ht_drop")" \
    "$ag_drop" "$(ratio "$ag_drop" "$ht_drop")"
printf '| SIGINT to exit (s) | %s | %s | %s | %s |\n' "$plain_stop" "$ht_stop" "$mp_stop" "$ag_stop"
printf '| capture bytes per million allocations | | %s | %s (%sx) | %s (%sx) |\n' "$ht_bytes" "$mp_bytes" \
    "$(ratio "$mp_bytes" "$ht_bytes")" "$ag_bytes" "$(ratio "$ag_bytes" "$ht_bytes")"
echo
echo "Rounds: requests/s plain${rps[plain]}; heaptrack${rps[heaptrack]}; mprof${rps[mprof]}; aggregate${rps[aggregate]}."
echo "Stop (s): heaptrack${stop[heaptrack]}; mprof${stop[mprof]}; aggregate${stop[aggregate]}."
