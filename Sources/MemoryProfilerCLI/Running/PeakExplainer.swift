import MemoryProfiler
import MemoryReports
import MemoryProfilerSystem
import Synchronization

/// `mprof run --explain`: the breakdown of the program's memory (`mprof explain`) taken near its peak. Samples pass
/// through to the `.dat` file; each time the resident set rises 2 % above the last breakdown's, the sampling thread
/// reads `/proc/PID/smaps` again, so the last breakdown taken is the one nearest the peak. Breakdowns are spaced by
/// at least 0.2 s and ten times what the last one took, so that reading smaps (milliseconds for a large process)
/// takes at most a tenth of the sampler's time.
final class PeakExplainer: MemorySampleSink {
    struct Snapshot: Sendable {
        var process: ProcessID
        var breakdown: MemoryBreakdown
        var resident: MemorySize
        var elapsed: Duration
    }

    private struct State {
        var process: ProcessID?
        var best: Snapshot?
        var lastAttempt: Duration?
        var lastCost: Duration = .zero
        var failure: String?
    }

    private let file: DatFileSink
    private let state = Mutex(State())

    /// Whether the samples add descendants (-C): the breakdown is still the program's own process.
    let includesChildren: Bool

    init(file: DatFileSink, includesChildren: Bool) {
        self.file = file
        self.includesChildren = includesChildren
    }

    /// The breakdown nearest the peak, or why there is none.
    var result: Result<Snapshot, CLIError> {
        state.withLock { state in
            if let best = state.best { return .success(best) }
            return .failure(CLIError(state.failure ?? "no breakdown was taken: the program ended before the first sample"))
        }
    }

    func begin(process: ProcessID, startWallClock: Double) {
        state.withLock { $0.process = process }
        file.begin(process: process, startWallClock: startWallClock)
    }

    func record(_ sample: MemorySample) {
        file.record(sample)
        let due: ProcessID? = state.withLock { state in
            guard let process = state.process else { return nil }
            if let best = state.best, sample.memory.bytes < best.resident.bytes + best.resident.bytes / 50 { return nil }
            if let last = state.lastAttempt, state.best != nil, sample.elapsed - last < max(.milliseconds(200), state.lastCost * 10) {
                return nil
            }
            state.lastAttempt = sample.elapsed
            return process
        }
        guard let process = due else { return }
        let started = Clocks.monotonicNanoseconds()
        defer {
            let cost = Duration.nanoseconds(Clocks.monotonicNanoseconds() - started)
            state.withLock { $0.lastCost = cost }
        }
        do {
            let breakdown = try MemoryBreakdown.of(process)
            state.withLock {
                $0.best = Snapshot(process: process, breakdown: breakdown, resident: sample.memory, elapsed: sample.elapsed)
            }
        } catch {
            state.withLock { $0.failure = "no breakdown: \(error.message)" }
        }
    }

    func record(_ sample: MemorySample, child: ProcessID) {
        file.record(sample, child: child)
    }

    func end(_ trace: MemoryTrace) {
        file.end(trace)
    }

    /// The report printed after the run: the breakdown, and with a heap capture of the same run the heap in use at
    /// that moment against the parts malloc serves from. `peak` is the recording's peak (the kernel's lifetime peak
    /// where it was recorded): a breakdown below 90 % of it is not called "near the peak", and says how far it is.
    func report(heap: HeapCapture?, peak: MemorySize?) -> String {
        switch result {
        case .failure(let error):
            return "mprof: --explain: \(error.description)\n"
        case .success(let snapshot):
            let seconds = DecimalFormat.fixed(Double(snapshot.elapsed.components.seconds) + Double(snapshot.elapsed.components.attoseconds) / 1e18, decimals: 2)
            let when: String
            if let peak, peak.bytes > 0, Double(snapshot.resident.bytes) < 0.9 * Double(peak.bytes) {
                let share = DecimalFormat.fixed(Double(snapshot.resident.bytes) / Double(peak.bytes) * 100, decimals: 0)
                when = "the memory at \(seconds) s, \(share)% of the peak of \(Quantity.bytes(peak.bytes)), which came and "
                    + "went faster than a breakdown could be taken (mprof explain, taken when the resident set was "
            } else {
                when = "the memory at \(seconds) s, near the peak (mprof explain, taken when the resident set was "
            }
            var text = "mprof: \(when)"
                + "\(Quantity.bytes(snapshot.resident.bytes))\(includesChildren ? " with its descendants; the parts are the program's own process alone" : "")):\n"
            let table = ExplainReport.text(snapshot.breakdown, process: snapshot.process, name: "", top: 3)
            // Leave out the first line (it names the PID, which is gone now).
            text += table.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).dropFirst().joined(separator: "\n")
            if let heap {
                let at = Double(snapshot.elapsed.components.seconds) + Double(snapshot.elapsed.components.attoseconds) / 1e18
                let inUse = heap.heapTimeline.last { $0.time <= at }?.bytes ?? 0
                let served = snapshot.breakdown[.mallocHeap].resident.bytes + snapshot.breakdown[.otherAnonymous].resident.bytes
                text += "\nThe heap in use then (from the capture): \(Quantity.bytes(inUse)), of \(Quantity.bytes(served)) in the malloc heap and "
                    + "other anonymous memory: the rest is what the allocator keeps, and memory not from malloc.\n"
            }
            return text
        }
    }
}
