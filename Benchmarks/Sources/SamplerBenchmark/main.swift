// The sampler's own numbers: achieved samples per second and the CPU share of its thread at several intervals,
// with and without child processes, and how many short spikes it catches.
//
//   swift run -c release sampler-benchmark                 5 s per rate, 30 spike runs
//   swift run -c release sampler-benchmark --seconds 2 --spike-runs 10
import MemoryProfiler

import BenchmarkSupport

import Glibc

var seconds = 5
var spikeRuns = 30
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--seconds": seconds = arguments.popFirst().flatMap { Int($0) } ?? seconds
    case "--spike-runs": spikeRuns = arguments.popFirst().flatMap { Int($0) } ?? spikeRuns
    default:
        print("usage: sampler-benchmark [--seconds N] [--spike-runs N]")
        exit(2)
    }
}

func format(_ value: Double, _ decimals: Int) -> String { TableText.fixed(value, decimals) }
func pad(_ text: String, _ width: Int) -> String { TableText.pad(text, width) }

/// Starts `count` sleeping children of this process, for the sampler to find and measure.
func startChildren(_ count: Int) -> [pid_t] {
    (0..<count).map { _ in
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("sleep"), strdup("600"), nil]
        posix_spawnp(&pid, "sleep", nil, nil, argv, environ)
        for pointer in argv { free(pointer) }
        return pid
    }
}

func stopChildren(_ children: [pid_t]) {
    for child in children {
        kill(child, SIGKILL)
        var status: Int32 = 0
        waitpid(child, &status, 0)
    }
}

print("Sampler: \(seconds) s per row, current process, rss reader with exact peaks")
print("interval   children   requested/s   achieved/s   of requested   sampler CPU   missed deadlines")
let cases: [(Duration, Int, String)] = [
    (.milliseconds(10), 0, "10 ms"), (.milliseconds(1), 0, "1 ms"), (.microseconds(100), 0, "100 µs"),
    (.milliseconds(10), 4, "10 ms"), (.milliseconds(1), 4, "1 ms"),
]
for (interval, childCount, label) in cases {
    let children = startChildren(childCount)
    defer { stopChildren(children) }
    let options = SamplingOptions(
        interval: interval, timeout: .seconds(seconds), includeChildren: childCount > 0,
        perChildSeries: childCount > 0)
    do {
        let trace = try memoryUsage(of: .current, options: options)
        let duration = Double(trace.duration.components.seconds) + Double(trace.duration.components.attoseconds) * 1e-18
        let cpu = Double(trace.samplerCPUTime.components.seconds)
            + Double(trace.samplerCPUTime.components.attoseconds) * 1e-18
        let requested = 1 / (Double(interval.components.attoseconds) * 1e-18 + Double(interval.components.seconds))
        let achieved = Double(trace.sampleCount - 1) / duration
        print(
            pad(label, 8) + pad(String(childCount), 11) + pad(format(requested, 0), 14) + pad(format(achieved, 1), 13)
                + pad(format(achieved / requested * 100, 1) + " %", 15) + pad(format(cpu / duration * 100, 2) + " %", 14)
                + pad(String(trace.missedDeadlines), 19))
    } catch {
        print("\(label): \(error)")
    }
}

print("")
print("Spike capture: 20 MiB held 50 ms, sampled every 100 ms, \(spikeRuns) runs")
var caughtExact = 0
var caughtBySamples = 0
var generator = SystemRandomNumberGenerator()
for _ in 0..<spikeRuns {
    let offset = UInt32.random(in: 0..<100_000, using: &generator)
    do {
        let (_, trace) = try memoryUsage(options: .init(interval: .milliseconds(100))) {
            usleep(offset)
            let bytes = 20 << 20
            let block = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
            block.initializeMemory(as: UInt8.self, repeating: 1, count: bytes)
            usleep(50_000)
            block.deallocate()
            usleep(100_000 - offset)
        }
        if trace.increment.mebibytes >= 19 { caughtExact += 1 }
        let sampledPeak = trace.samples.map(\.memory).max() ?? trace.baseline
        if (sampledPeak - trace.baseline).mebibytes >= 19 { caughtBySamples += 1 }
    } catch {
        print("spike run: \(error)")
    }
}
print("true peak in the trace (kernel high-water mark):  \(caughtExact) of \(spikeRuns)")
print("peak visible in the samples alone (as mprof sees): \(caughtBySamples) of \(spikeRuns)")
