"""Side-by-side measurements of swift-memory-profiler (ours) and memory_profiler 0.61.0 (theirs).

Run through Benchmarks/compare-memory-profiler.sh, which builds our binaries and prepares the Python side.
Every number is a median over repeats taken in this one run; ratios are theirs / ours (higher is better for us).
"""
import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import warnings

import memory_profiler
import psutil

parser = argparse.ArgumentParser()
parser.add_argument("--mprof", required=True)
parser.add_argument("--workload", required=True)
parser.add_argument("--line-benchmark", required=True)
parser.add_argument("--python-mprof", required=True)
parser.add_argument("--spike-runs", type=int, default=30)
args = parser.parse_args()
warnings.simplefilter("ignore")  # memory_profiler warns on every reading through ps

rows = []


def row(operation, ours, theirs, unit, bar=None, lower_is_better=True):
    """`ours` and `theirs` are lists of measurements (or single numbers): the median is compared, the range shown."""
    ours = ours if isinstance(ours, list) else [ours]
    theirs = theirs if isinstance(theirs, list) else [theirs]
    ours_median, theirs_median = statistics.median(ours), statistics.median(theirs)
    ratio = theirs_median / ours_median if lower_is_better else ours_median / theirs_median
    rows.append((operation, ours, theirs, unit, ratio, bar))
    print(f"  {operation}: ours {ours_median:.4g} {unit}, memory_profiler {theirs_median:.4g} {unit}, "
          f"ratio {ratio:.1f}x", flush=True)


def run(command, **kwargs):
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


# A process to read: 100 MiB resident, then 1 GiB for the smaps_rollup readings that grow with memory.
def hold(mebibytes):
    process = subprocess.Popen([args.workload, "hold", str(mebibytes)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert process.stdout.readline().strip() == b"ok"
    return process


print("== readings of another process (median µs per reading)", flush=True)
for mebibytes in (100, 1024):
    target = hold(mebibytes)
    pid = str(target.pid)
    ours = json.loads(subprocess.check_output(
        [args.mprof, "readers", "--pid", pid, "--bench", "--count", "200", "--repeats", "11", "--format", "json",
         "--reader", "rss", "--reader", "pss", "--reader", "uss", "--reader", "ps"]))
    ours = {r["reader"]: [r["cost"][key] / r["cost"]["count"] * 1e6
                          for key in ("minimumSeconds", "medianSeconds", "maximumSeconds")]
            for r in ours["readings"]}
    backends = {"rss": "psutil", "pss": "psutil_pss", "uss": "psutil_uss", "ps": "posix"}
    for reader, backend in backends.items():
        if mebibytes != 100 and reader in ("rss", "ps"):
            continue
        count = 20 if reader == "ps" else 200
        times = timeit.repeat(lambda: memory_profiler._get_memory(target.pid, backend), number=count, repeat=11)
        theirs = [time / count * 1e6 for time in times]
        bar = {"rss": 30, "pss": 10, "uss": 10, "ps": 3}[reader]
        row(f"{reader} reading at {mebibytes} MiB resident", ours[reader], theirs, "µs", bar)
    target.stdin.close()
    target.wait()

print("== line-by-line profiling (µs of overhead per executed line)", flush=True)
output = subprocess.check_output([args.line_benchmark, "--iterations", "400000", "--repeats", "7"], text=True)
ours_line = float(next(l for l in output.splitlines() if "all columns" in l).split()[-1])
source = """
def loop(count):
    total = 0
    for value in range(count):
        total += value * 3
        total ^= value >> 1
    return total
"""
# memory_profiler reads the function's source file, so the loop lives in a real module.
module_directory = tempfile.mkdtemp()
with open(os.path.join(module_directory, "profiled_loop.py"), "w") as file:
    file.write(source)
sys.path.insert(0, module_directory)
import profiled_loop  # noqa: E402

plain = profiled_loop.loop
profiled = memory_profiler.profile(stream=open(os.devnull, "w"))(profiled_loop.loop)
count = 3000
lines = 3 * count + 2
plain_time = statistics.median(timeit.repeat(lambda: plain(count), number=1, repeat=5))
profiled_times = timeit.repeat(lambda: profiled(count), number=1, repeat=5)
row("line profiling overhead per executed line", ours_line,
    [(time - plain_time) / lines * 1e6 for time in profiled_times], "µs", 50)

print("== mprof run", flush=True)
with tempfile.TemporaryDirectory() as directory:
    dat = os.path.join(directory, "run.dat")

    def startup(mprof):
        times = []
        for _ in range(11):
            if os.path.exists(dat):
                os.unlink(dat)
            wall, _ = run([mprof, "run", "-o", dat, "/bin/true"])
            times.append(wall)
        return times

    bare = statistics.median([run(["/bin/true"])[0] for _ in range(11)])
    row("mprof run /bin/true: time added", [(t - bare) * 1e3 for t in startup(args.mprof)],
        [(t - bare) * 1e3 for t in startup(args.python_mprof)], "ms", 20)

    def task_clock(command):
        """Wall and CPU seconds of a command and all it starts. CPU from perf's task-clock, which the scheduler
        measures exactly; getrusage's tick-sampled times overcharge a thread that wakes on every 1 ms tick."""
        start = time.perf_counter()
        try:
            result = subprocess.run(["perf", "stat", "-x", ",", "-e", "task-clock", "--"] + command,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            wall = time.perf_counter() - start
            line = next(l for l in result.stderr.splitlines() if "task-clock" in l)
            return wall, float(line.split(",")[0]) / 1000
        except (OSError, StopIteration, ValueError):
            return run(command)

    def sampling(mprof):
        if os.path.exists(dat):
            os.unlink(dat)
        wall, cpu = task_clock([mprof, "run", "-T", "0.001", "-o", dat, "sleep", "5"])
        with open(dat) as file:
            times = [float(line.split()[2]) for line in file if line.startswith("MEM ")]
        # The rate over the span the samples cover, so start-up and exit are not counted against either tool.
        return (len(times) - 1) / (times[-1] - times[0]), cpu / wall * 100

    ours_rate, ours_cpu = sampling(args.mprof)
    theirs_rate, theirs_cpu = sampling(args.python_mprof)
    row("samples per second at -T 0.001", ours_rate, theirs_rate, "/s", None, lower_is_better=False)
    row("CPU of mprof at -T 0.001", ours_cpu, theirs_cpu, "% of a core", 2)

    spike = ("import random, time; time.sleep(0.3 + random.random() * 0.1); "
             "x = bytearray(b'\\x01') * (20 << 20); time.sleep(0.05); del x; time.sleep(0.3)")

    def caught(mprof):
        hits = 0
        for _ in range(args.spike_runs):
            if os.path.exists(dat):
                os.unlink(dat)
            run([mprof, "run", "-T", "0.1", "-o", dat, sys.executable, "-c", spike])
            text = subprocess.check_output([mprof, "peak", dat], text=True)
            peak = float(text.split("\t")[1].split()[0])
            with open(dat) as file:
                first = next(float(line.split()[1]) for line in file if line.startswith("MEM "))
            baseline = max(first, 8)
            hits += peak >= baseline + 18
        return hits

    ours_hits = caught(args.mprof)
    theirs_hits = caught(args.python_mprof)
    rows.append((f"20 MiB spike held 50 ms, -T 0.1: runs whose peak shows it (of {args.spike_runs})",
                 ours_hits, theirs_hits, "runs", None, None))
    print(f"  spike: ours {ours_hits}/{args.spike_runs}, memory_profiler {theirs_hits}/{args.spike_runs}", flush=True)

    print("== mprof plot on 1 million samples", flush=True)
    big = os.path.join(directory, "big.dat")
    with open(big, "w") as file:
        file.write("CMDLINE benchmark\n")
        for index in range(1_000_000):
            file.write(f"MEM {100 + (index % 1000) / 7:.6f} {1795000000 + index * 0.001:.4f}\n")
    environment = dict(os.environ, MPLBACKEND="Agg")
    ours_plot = [run([args.mprof, "plot", "-o", os.path.join(directory, "ours.svg"), big])[0] for _ in range(3)]
    theirs_plot = [run([args.python_mprof, "plot", "-o", os.path.join(directory, "theirs.png"), big], env=environment)[0]
                   for _ in range(3)]
    row("mprof plot, 1 million samples", ours_plot, theirs_plot, "s", 10)

print()
print(f"swift-memory-profiler against memory_profiler {memory_profiler.__version__} (psutil {psutil.__version__}), "
      f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, Linux {platform.release()}")
print()
def show(value):
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def cell(values, unit):
    if len(values) == 1:
        return f"{show(values[0])} {unit}"
    return f"{show(statistics.median(values))} {unit} ({show(min(values))}–{show(max(values))})"


print("Medians, with the range over the repeats in parentheses.")
print()
print("| operation | ours | memory_profiler | ratio | bar |")
print("|---|---|---|---|---|")
for operation, ours, theirs, unit, ratio, bar in rows:
    if ratio is None:
        print(f"| {operation} | {ours} | {theirs} | | 30/30 |")
        continue
    bar_text = f"≥ {bar}×" if bar else ""
    if operation.startswith("samples per second"):
        bar_text = "≥ 990/s"
    print(f"| {operation} | {cell(ours, unit)} | {cell(theirs, unit)} | {ratio:.1f}× | {bar_text} |")
