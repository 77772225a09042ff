#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer of what mprof reads from files: .dat profiles and its JSON inputs.
#
#   Fuzz/run.sh [--seconds N] [TARGET…]      build, then run each target for N seconds (default 600)
#
# Targets (Fuzz/Targets/TARGET.swift):
#   dat         MprofFile from a file and from a String, its peaks, and the SVG, HTML and terminal plots
#   lines-json  the line-profile JSON of `mprof lines`: decode, both text reports, JSON round trip
#   plot-json   the JSON charts of `mprof plot` (readers --bench --format json, memory-scaling --json)
#   capture     heap captures (`mprof heap`): read from a file and from bytes, replayed, every view, pprof,
#               collapsed stacks, flame graphs
#   compressed  the decompressor of finished captures, every run spent in it, then the same as capture
#
# The library, the plots and the CLI module are built by SwiftPM in .build-fuzz/spm with -sanitize=fuzzer,address,
# so that our code is coverage-instrumented; each target is then linked with swiftc. The normal
# .build is never touched. Each target's working corpus is .build-fuzz/corpus/TARGET, seeded from the committed
# Fuzz/Corpus/TARGET, which libFuzzer only reads. Any finding (crash, failed check, ASan report, leak, timeout,
# out of memory) stops the script with a non-zero status, the report, and the path of the input.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

seconds=600
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
        --seconds=*) seconds=${1#--seconds=}; shift ;;
        -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "Fuzz/run.sh: unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(dat lines-json plot-json capture compressed)
for target in "${targets[@]}"; do
    [ -f "Fuzz/Targets/$target.swift" ] || { echo "Fuzz/run.sh: no target $target (Fuzz/Targets/*.swift)" >&2; exit 2; }
done

out=$root/.build-fuzz
mkdir -p "$out/bin" "$out/logs"
# Swift's own crash backtracer reads memory that ASan watches and reports itself instead of the crash;
# libFuzzer prints the stack, symbolized by the toolchain's llvm-symbolizer.
export SWIFT_BACKTRACE=enable=no
symbolizer=$(dirname "$(command -v swiftc)")/llvm-symbolizer
[ -x "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH=$symbolizer

# The modules each target links, in dependency order.
modules_for() {
    for target in "$@"; do
        case "$target" in
            dat) echo CMemoryProfilerShims MemoryProfilerSystem MemoryProfiler MemoryPlot ;;
            lines-json) echo CMemoryProfilerShims MemoryProfilerSystem MemoryProfiler ;;
            plot-json) echo CMemoryProfilerShims MemoryProfilerSystem MemoryProfiler MemoryPlot MemoryReports ArgumentParserToolInfo ArgumentParser MemoryProfilerCLI ;;
            capture | compressed) echo CMemoryProfilerShims MemoryProfilerSystem MemoryProfiler MemoryPlot MemoryReports ;;
        esac
    done
}

# Sources beyond the target's own and Fuzz/Support/*.swift.
extra_sources_for() {
    case "$1" in
        capture | compressed) echo Fuzz/Support/Heap/*.swift ;;
    esac
}

# Only what the chosen targets link: the CLI module and ArgumentParser only for plot-json.
case " ${targets[*]} " in
    *" plot-json "*) tops=(MemoryProfilerCLI) ;;
    *" capture "* | *" compressed "*) tops=(MemoryPlot MemoryReports) ;;
    *" dat "*) tops=(MemoryPlot) ;;
    *) tops=(MemoryProfiler) ;;
esac

for top in "${tops[@]}"; do
    echo "== building $top and what it depends on with -sanitize=fuzzer,address (.build-fuzz/spm)"
    # Not `--sanitize fuzzer --sanitize address`: SwiftPM passes those as two -sanitize= flags, in no fixed order,
    # and swiftc keeps only the last.
    swift build --scratch-path "$out/spm" -c release --target "$top" -Xswiftc -sanitize=fuzzer,address \
        >"$out/logs/build.log" 2>&1 || { cat "$out/logs/build.log" >&2; exit 1; }
done
products=$out/spm/release

# A module's object files, one for each of its current sources: a source removed since the last build leaves
# its object behind.
objects_of() {
    local directory=$products/$1.build
    if [ -f "$directory/sources" ]; then
        # One path a line, in single quotes when it has a blank.
        sed "s/^'\\(.*\\)'\$/\\1/" "$directory/sources" | while IFS= read -r source; do
            echo "$directory/$(basename "$source").o"
        done
    else
        find "$directory" -name '*.o'
    fi
}

for module in $(modules_for "${targets[@]}" | tr ' ' '\n' | grep '^Memory' | sort -u); do
    mapfile -t objects < <(objects_of "$module")
    object=${objects[0]}
    sections=$(objdump -h "$object")
    if ! grep -q __sancov_cntrs <<<"$sections" || ! grep -q asan <<<"$sections"; then
        echo "error: $object lacks libFuzzer's coverage counters or ASan's checks" >&2
        exit 1
    fi
done

for target in "${targets[@]}"; do
    objects=()
    for module in $(modules_for "$target"); do mapfile -t -O "${#objects[@]}" objects < <(objects_of "$module"); done
    echo "== linking $target"
    swiftc -swift-version 6 -O -g -parse-as-library -warnings-as-errors -sanitize=fuzzer,address -use-ld=lld \
        -module-name "$(echo "$target" | tr -d -)_fuzzer" -I "$products/Modules" \
        -Xcc -fmodule-map-file="$products/CMemoryProfilerShims.build/module.modulemap" \
        -Xcc -I -Xcc Sources/CMemoryProfilerShims/include \
        "Fuzz/Targets/$target.swift" Fuzz/Support/*.swift $(extra_sources_for "$target") "${objects[@]}" -lz \
        -o "$out/bin/$target"
done

for target in "${targets[@]}"; do
    corpus=$out/corpus/$target
    findings=$out/findings/$target
    log=$out/logs/$target.log
    mkdir -p "$corpus" "$findings"
    options=()
    [ -f "Fuzz/Dictionaries/$target.dict" ] && options+=(-dict="Fuzz/Dictionaries/$target.dict")
    # mprof plot reports every chart it writes on standard error; libFuzzer keeps its own reports.
    [ "$target" = plot-json ] && options+=(-close_fd_mask=2)
    echo "== fuzzing $target for ${seconds}s (log: .build-fuzz/logs/$target.log)"
    status=0
    "$out/bin/$target" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$findings/" "${options[@]}" \
        "$corpus" "Fuzz/Corpus/$target" >"$log" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
        # The report: from the first line of the failure on (the log before it is libFuzzer's progress).
        sed -n '/Fatal error\|ERROR: \|^==[0-9]*==/,$p' "$log" | head -n 80 >&2
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        echo "error: fuzzing $target found a problem (exit status $status): ${artifact:-see $log}" >&2
        [ -n "$artifact" ] && echo "reproduce: SWIFT_BACKTRACE=enable=no .build-fuzz/bin/$target $artifact" >&2
        exit 1
    fi
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
    rate=$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$log")
    echo "$target: ${done_line:-no DONE line} | ${rate:-?} exec/s | corpus $(find "$corpus" -type f | wc -l) files"
done
