internal import MemoryProfilerSystem
import Synchronization

/// Samples the memory of a process at a fixed interval on a dedicated thread, without missing a peak.
///
/// ``memoryUsage(options:_:)`` and ``memoryUsage(of:options:)`` cover most uses; reach for the sampler when
/// you decide yourself when to stop — a server you measure until a signal arrives, say.
///
/// ```swift
/// let sampler = try MemorySampler.start(process: ProcessID(4242), options: .init(interval: .milliseconds(10)))
/// // … later …
/// let trace = sampler.stop()
/// print(trace.peak)
/// ```
///
/// The first sample is taken by ``start(process:options:)`` before it returns; the sampler thread then sleeps to
/// absolute deadlines (start + n × interval) and samples until ``stop()``, the timeout, or the process's exit.
/// Once started it allocates nothing per sample, except with children (listing them reads `/proc`).
///
/// **Exact peaks.** With the ``MemoryReader/rss`` reader the sampler resets the kernel's high-water mark of the
/// process at the start and after each sample, and reads it at each sample: every sample's
/// ``MemorySample/intervalPeak`` is then the true maximum since the previous one, spikes included, and the
/// trace's ``MemoryTrace/peak`` is the true maximum. The one blind spot is the microsecond between reading the
/// mark and resetting it. Where the reset is not permitted the sampler still uses the mark whenever it rises, and
/// ``MemoryTrace/notes`` says so.
public final class MemorySampler: Sendable {
    /// The process being measured.
    public let process: ProcessID
    /// How it is measured.
    public let options: SamplingOptions

    private let recorder: Recorder
    private let stopSignal = StopSignal()
    private let state: Mutex<State>

    private enum State {
        case running(DedicatedThread)
        case finished(MemoryTrace)
    }

    private init(process: ProcessID, options: SamplingOptions, recorder: Recorder) throws(MemoryError) {
        self.process = process
        self.options = options
        self.recorder = recorder
        let stopSignal = self.stopSignal
        let thread: DedicatedThread
        do {
            thread = try DedicatedThread.start {
                recorder.run(until: stopSignal)
                let waiters = recorder.completion.withLock { completion in
                    completion.done = true
                    defer { completion.waiters = [] }
                    return completion.waiters
                }
                for waiter in waiters { waiter.resume() }
            }
        } catch {
            throw MemoryError(error)
        }
        self.state = Mutex(.running(thread))
    }

    /// Takes the first sample of `process` and starts sampling it on a dedicated thread.
    ///
    /// - Parameters:
    ///   - process: The process to measure; the current one by default.
    ///   - options: Interval, timeout, reader, children and the rest.
    /// - Returns: The running sampler.
    /// - Throws: ``MemoryError`` when the process cannot be measured with the options' reader, or when the
    ///   interval is not positive.
    public static func start(
        process: ProcessID = .current, options: SamplingOptions = SamplingOptions()
    ) throws(MemoryError) -> MemorySampler {
        guard options.interval > .zero else {
            throw MemoryError(.invalidOptions, "the sampling interval must be positive, not \(options.interval)")
        }
        let recorder = try Recorder(process: process, options: options)
        return try MemorySampler(process: process, options: options, recorder: recorder)
    }

    /// Whether sampling has ended on its own: the process exited or the timeout passed.
    public var isFinished: Bool {
        recorder.completion.withLock { $0.done }
    }

    /// Stops sampling, takes a last sample if the process is still there, and returns the trace.
    ///
    /// Returns at once: the sampler thread is woken from its sleep. Calling it again returns the same trace.
    public func stop() -> MemoryTrace {
        finish(stopping: true)
    }

    /// Waits until the process exits or the timeout passes, and returns the trace.
    ///
    /// Without a timeout, for a process that never exits, this never returns: call ``stop()`` from elsewhere.
    public func waitUntilFinished() -> MemoryTrace {
        finish(stopping: false)
    }

    /// Waits, without blocking a thread of the cooperative pool, until the process exits or the timeout
    /// passes, and returns the trace.
    public func waitUntilFinished() async -> MemoryTrace {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = recorder.completion.withLock { completion in
                if !completion.done { completion.waiters.append(continuation) }
                return completion.done
            }
            if done { continuation.resume() }
        }
        return finish(stopping: false)
    }

    private func finish(stopping: Bool) -> MemoryTrace {
        state.withLock { state in
            switch state {
            case .finished(let trace):
                return trace
            case .running(let thread):
                if stopping { stopSignal.raise() }
                thread.join()
                let trace = recorder.finish(takingLastSample: stopping)
                state = .finished(trace)
                return trace
            }
        }
    }

    deinit {
        // A sampler dropped without stop() must not leave its thread running.
        stopSignal.raise()
        state.withLock { state in
            if case .running(let thread) = state { thread.join() }
        }
    }
}

extension MemorySampler {
    /// The high-water mark of one process, read at every sample and reset after it.
    struct PeakTracker {
        let probe: MemoryProbe
        /// Whether the reset is permitted; without it, only a rise of the mark tells anything.
        let resets: Bool
        private var lastMark: MemorySize
        private(set) var markRose = false
        /// The file-backed resident pages, from the same read as the last mark.
        private(set) var fileResident: MemorySize?

        /// Resets the mark, or finds out that it cannot; nil when the process cannot be read at all.
        init?(process: ProcessID, notes: inout [String]) {
            guard let probe = try? MemoryProbe(.peak, process: process), let mark = try? probe.read() else {
                return nil
            }
            self.probe = probe
            self.lastMark = mark
            do {
                try probe.resetPeak()
                self.resets = true
            } catch {
                self.resets = false
                notes.append(
                    "the high-water mark of process \(process) could not be reset (\(error)); "
                        + "peaks between samples are seen only when they exceed its earlier peak")
            }
        }

        /// The highest memory since the previous call, when known.
        @inline(__always)
        mutating func next() -> MemorySize? {
            guard let (mark, file) = try? probe.readWithFileResident() else {
                fileResident = nil
                return nil
            }
            fileResident = file
            if resets {
                try? probe.resetPeak()
                return mark
            }
            defer { lastMark = mark }
            guard mark > lastMark else { return nil }
            markRose = true
            return mark
        }
    }

    /// A descendant being measured: its probe and its mark.
    struct ChildProbe {
        let probe: MemoryProbe
        var peak: PeakTracker?
    }

    /// The samples and the probes. The calling thread uses it before the sampler thread starts and after it has
    /// been joined; the sampler thread in between. Thread creation and `pthread_join` order these accesses.
    struct Completion {
        var done = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    final class Recorder: @unchecked Sendable {
        /// Whether the sampler thread has finished, and who waits for it (asynchronously).
        let completion = Mutex<Completion>(Completion())
        let process: ProcessID
        let options: SamplingOptions
        let main: MemoryProbe
        var ownPeak: PeakTracker?
        var children: [ProcessID: ChildProbe] = [:]
        var childSeries: [ProcessID: [MemorySample]] = [:]
        var childOrder: [ProcessID] = []
        var sawChildren = false
        let startMonotonic: Int64
        let startWallClock: Double
        var baseline = MemorySize.zero
        var samples: [MemorySample] = []
        var peak = MemorySize(bytes: Int.min)
        var peakTime = Duration.zero
        var lastTime = Duration.zero
        var count = 0
        var missed = 0
        var notes: [String] = []
        var end = MemoryTrace.End.stopped
        /// The reading that stopped sampling, when it failed for a reason other than the process's exit.
        var failure: MemoryError?
        var alive = true
        var samplerCPUTime = Duration.zero
        private var childMemory = MemorySize.zero
        private var childPeaks: MemorySize? = MemorySize.zero
        private var pendingChildSamples: [(ProcessID, MemorySample)] = []

        init(process: ProcessID, options: SamplingOptions) throws(MemoryError) {
            self.process = process
            self.options = options
            self.main = try MemoryProbe(options.reader, process: process)
            if options.exactPeaks && options.reader == .rss {
                ownPeak = PeakTracker(process: process, notes: &notes)
            }
            if !options.maximumOnly {
                let expected = options.timeout.map { Int($0.nanoseconds / max(options.interval.nanoseconds, 1)) + 2 }
                samples.reserveCapacity(min(expected ?? 4096, 1 << 20))
            }
            startWallClock = Clocks.wallClockSeconds()
            startMonotonic = Clocks.monotonicNanoseconds()
            options.sink?.begin(process: process, startWallClock: startWallClock)
            guard sample(atMonotonic: startMonotonic) else {
                // A reader that fails is an error of its own, not a process that exited.
                if let failure { throw failure }
                throw MemoryError(.processExited, "process \(process) exited before sampling started", process: process)
            }
        }

        /// The sampler thread's loop: sleep to the next deadline, sample, repeat.
        func run(until stop: StopSignal) {
            let interval = max(options.interval.nanoseconds, 1)
            let timeoutDeadline = options.timeout.map { startMonotonic &+ $0.nanoseconds }
            var step: Int64 = 1
            while alive {
                var deadline = startMonotonic &+ step &* interval
                if let timeoutDeadline, deadline > timeoutDeadline { deadline = timeoutDeadline }
                if stop.wait(untilMonotonic: deadline) { break }
                let now = Clocks.monotonicNanoseconds()
                guard sample(atMonotonic: now) else { break }
                if let timeoutDeadline, now >= timeoutDeadline {
                    end = .timeout
                    break
                }
                let next = (now &- startMonotonic) / interval &+ 1
                if next > step &+ 1 { missed += Int(next &- step &- 1) }
                step = next
            }
            samplerCPUTime = Clocks.threadCPUTime()
        }

        /// Takes one sample; false when the process is gone.
        func sample(atMonotonic now: Int64) -> Bool {
            let time = Duration.nanoseconds(now &- startMonotonic)
            var memory: MemorySize
            do {
                memory = try main.read()
            } catch {
                alive = false
                if error.code == .processExited || error.code == .noSuchProcess {
                    end = .processExited
                } else {
                    failure = error
                    end = .readerFailed
                    notes.append(MemoryTrace.samplingStoppedNote + "\(error)")
                }
                return false
            }
            var intervalPeak = ownPeak?.next()
            if options.includeChildren || options.perChildSeries {
                sampleChildren(at: time)
                if options.includeChildren {
                    memory += childMemory
                    if let own = intervalPeak { intervalPeak = childPeaks.map { own + $0 } }
                }
            }
            var sample = MemorySample(elapsed: time, memory: memory, intervalPeak: intervalPeak)
            // File pages of the process alone: with children summed in, they would not match the sample.
            if options.sink != nil && !options.includeChildren { sample.fileResident = ownPeak?.fileResident }
            if count == 0 { baseline = memory }
            count += 1
            lastTime = time
            if sample.highest > peak {
                peak = sample.highest
                peakTime = time
            }
            if !options.maximumOnly { samples.append(sample) }
            if let sink = options.sink {
                sink.record(sample)
                for (child, childSample) in pendingChildSamples { sink.record(childSample, child: child) }
            }
            return true
        }

        /// Reads every descendant; leaves their sum in `childMemory` and the sum of their marks in `childPeaks`.
        private func sampleChildren(at time: Duration) {
            childMemory = .zero
            childPeaks = .zero
            pendingChildSamples.removeAll(keepingCapacity: true)
            let current: [ProcessID]
            do {
                current = try process.descendants()
            } catch {
                if error.code != .processExited && error.code != .noSuchProcess { noteMissedChildren(error) }
                current = []
            }
            if current.count != children.count || !current.allSatisfy({ children[$0] != nil }) {
                let alive = Set(current)
                children = children.filter { alive.contains($0.key) }
            }
            for child in current {
                guard let (memory, mark) = readChild(child) else { continue }
                sawChildren = true
                childMemory += memory
                if let mark, let sum = childPeaks { childPeaks = sum + mark } else { childPeaks = nil }
                if options.perChildSeries {
                    let sample = MemorySample(elapsed: time, memory: memory, intervalPeak: mark)
                    if childSeries[child] == nil { childOrder.append(child) }
                    if !options.maximumOnly { childSeries[child, default: []].append(sample) }
                    pendingChildSamples.append((child, sample))
                }
            }
        }

        /// Notes, once, that descendants went unmeasured for `error`.
        private func noteMissedChildren(_ error: MemoryError) {
            guard !notes.contains(where: { $0.hasPrefix(MemoryTrace.childrenMissedNote) }) else { return }
            notes.append(MemoryTrace.childrenMissedNote + "\(error)")
        }

        /// One reading of a descendant, opening its probe on first sight; nil when it has gone. A probe whose
        /// process has died is opened again once, in case the PID now names a new descendant.
        private func readChild(_ child: ProcessID) -> (MemorySize, MemorySize?)? {
            for attempt in 0..<2 {
                if children[child] == nil || attempt == 1 {
                    let probe: MemoryProbe
                    do {
                        probe = try MemoryProbe(options.reader, process: child)
                    } catch {
                        // A child that has gone is no loss; one that cannot be opened (EMFILE, say) is.
                        if error.code != .processExited && error.code != .noSuchProcess { noteMissedChildren(error) }
                        return nil
                    }
                    var discarded: [String] = []
                    let peak = ownPeak != nil ? PeakTracker(process: child, notes: &discarded) : nil
                    children[child] = ChildProbe(probe: probe, peak: peak)
                }
                guard var entry = children[child], let memory = try? entry.probe.read() else { continue }
                let mark = entry.peak?.next()
                children[child] = entry
                return (memory, entry.peak == nil ? nil : mark)
            }
            children[child] = nil
            return nil
        }

        /// Takes the last sample if asked and the process is there, and builds the trace.
        func finish(takingLastSample: Bool) -> MemoryTrace {
            // After the timeout the trace is complete: a later stop() adds nothing.
            if takingLastSample && alive && end != .timeout {
                _ = sample(atMonotonic: Clocks.monotonicNanoseconds())
            }
            let peakSource: MemoryTrace.PeakSource
            if let ownPeak, ownPeak.resets {
                peakSource = options.includeChildren && sawChildren ? .sumOfHighWaterMarks : .kernelHighWaterMark
            } else if let ownPeak, ownPeak.markRose, !(options.includeChildren && sawChildren) {
                peakSource = .kernelHighWaterMark
            } else {
                peakSource = .samples
                if options.exactPeaks && options.reader != .rss && options.reader != .peak
                    && options.reader != .maxrss
                {
                    notes.append(
                        "peaks between samples are not tracked with the \(options.reader) reader: "
                            + "the kernel keeps a high-water mark of rss only")
                }
            }
            let trace = MemoryTrace(
                process: process, reader: options.reader, interval: options.interval,
                startWallClock: startWallClock, baseline: baseline, samples: samples,
                children: childOrder.map { MemoryTrace.ChildSeries(process: $0, samples: childSeries[$0] ?? []) },
                peak: peak, peakTime: peakTime, peakSource: peakSource, duration: lastTime, end: end,
                sampleCount: count, missedDeadlines: missed, samplerCPUTime: samplerCPUTime, notes: notes)
            options.sink?.end(trace)
            return trace
        }
    }
}
