// What @MemoryProfiled costs per executed statement: the same loops with and without the macro, in a release
// build, median of several repeats, each of at least a million executed statements.
//
//   swift run -c release line-profiler-benchmark                  400,000 iterations (1.2 M statements), 7 repeats
//   swift run -c release line-profiler-benchmark --iterations 1000000 --repeats 11
import MemoryProfilerMacros

import BenchmarkSupport

import Glibc

var iterations = 400_000
var repeats = 7
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--iterations": iterations = arguments.popFirst().flatMap { Int($0) } ?? iterations
    case "--repeats": repeats = arguments.popFirst().flatMap { Int($0) } ?? repeats
    default:
        print("usage: line-profiler-benchmark [--iterations N] [--repeats N]")
        exit(2)
    }
}

// Three statements per iteration: the loop header (counted per iteration) and two in the body.
@inline(never)
func plainArithmetic(_ count: Int) -> Int {
    var total = 0
    for value in 0..<count {
        total &+= value &* 3
        total ^= value >> 1
    }
    return total
}

@MemoryProfiled
@inline(never)
func profiledArithmetic(_ count: Int) -> Int {
    var total = 0
    for value in 0..<count {
        total &+= value &* 3
        total ^= value >> 1
    }
    return total
}

// A line that faults a fresh page in on every run: the case where the Peak column reads the high-water mark.
@inline(never)
func plainFaulting(_ count: Int) -> Int {
    var total = 0
    for _ in 0..<count {
        total &+= touchFreshPage()
        total &+= 1
    }
    return total
}

@MemoryProfiled
@inline(never)
func profiledFaulting(_ count: Int) -> Int {
    var total = 0
    for _ in 0..<count {
        total &+= touchFreshPage()
        total &+= 1
    }
    return total
}

@inline(never)
func touchFreshPage() -> Int {
    guard let page = mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
        page != MAP_FAILED
    else { return 0 }
    page.storeBytes(of: 1, as: UInt8.self)
    munmap(page, 4096)
    return 1
}

func seconds(_ body: () -> Int) -> Double {
    var start = timespec()
    var end = timespec()
    clock_gettime(CLOCK_MONOTONIC, &start)
    let result = body()
    clock_gettime(CLOCK_MONOTONIC, &end)
    if result == 42 { print("") }  // keeps the work observable
    return Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) * 1e-9
}

func median(_ values: [Double]) -> Double { TableText.median(values) }

func format(_ value: Double, _ decimals: Int) -> String { TableText.fixed(value, decimals) }
func pad(_ text: String, _ width: Int) -> String { TableText.pad(text, width) }

LineProfiler.configuration.reportDestination = .none
let statements = 3 * iterations + 2
print("Line profiling: \(iterations) iterations = \(statements) executed statements per run, median of \(repeats)")
print("")
print("\(pad("case", 34)) \(pad("plain ms", 10)) \(pad("profiled ms", 12)) \(pad("µs/statement", 13))")

@MainActor
func row(_ name: String, heap: Bool, plain: (Int) -> Int, profiled: (Int) -> Int, count: Int) {
    LineProfiler.configuration.measuresHeap = heap
    _ = profiled(1000)
    let plainTimes = (0..<repeats).map { _ in seconds { plain(count) } }
    let profiledTimes = (0..<repeats).map { _ in seconds { profiled(count) } }
    let plainMedian = median(plainTimes)
    let profiledMedian = median(profiledTimes)
    let perStatement = (profiledMedian - plainMedian) / Double(3 * count + 2) * 1e6
    print(
        "\(pad(name, 34)) \(pad(format(plainMedian * 1e3, 1), 10)) \(pad(format(profiledMedian * 1e3, 1), 12)) "
            + "\(pad(format(perStatement, 2), 13))")
}

row("arithmetic, all columns", heap: true, plain: plainArithmetic, profiled: profiledArithmetic, count: iterations)
row("arithmetic, no Heap column", heap: false, plain: plainArithmetic, profiled: profiledArithmetic, count: iterations)
row(
    "a page fault per iteration", heap: true, plain: plainFaulting, profiled: profiledFaulting,
    count: iterations / 4)
print("")
print("memory_profiler: Benchmarks/compare-memory-profiler.sh measures it beside us (24.8 µs per line here)")
