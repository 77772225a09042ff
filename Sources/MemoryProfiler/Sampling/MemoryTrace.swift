/// One measurement in a ``MemoryTrace``.
public struct MemorySample: Hashable, Sendable {
    /// When the sample was taken: the time since the trace's start, on the monotonic clock. (A `.dat` file holds
    /// wall-clock times instead: ``DatFileSink`` adds the start's wall-clock time.)
    public var elapsed: Duration
    /// What the reader saw at that moment.
    public var memory: MemorySize
    /// The highest memory since the previous sample, from the kernel's high-water mark; `nil` where the trace
    /// has no such mark (see ``MemoryTrace/peakSource``).
    ///
    /// A spike that rose and fell between two samples shows here even though ``memory`` misses it.
    public var intervalPeak: MemorySize?
    /// The process's file-backed resident pages (`RssFile`) at the sample, when read.
    public var fileResident: MemorySize?

    /// Creates a sample.
    public init(elapsed: Duration, memory: MemorySize, intervalPeak: MemorySize? = nil) {
        self.elapsed = elapsed
        self.memory = memory
        self.intervalPeak = intervalPeak
    }

    /// The larger of ``memory`` and ``intervalPeak``.
    public var highest: MemorySize { max(memory, intervalPeak ?? memory) }
}

/// Memory over time: the samples of one measured closure or process, with the summaries people compute by hand.
///
/// ```swift
/// let (_, trace) = try memoryUsage { try buildIndex() }
/// print("peak \(trace.peak), +\(trace.increment) over \(trace.duration)")
/// ```
public struct MemoryTrace: Sendable {
    /// How the trace's peak was found.
    public enum PeakSource: String, Hashable, Sendable, Codable {
        /// The kernel's high-water mark of the process, reset at the start and after every sample: the peak and
        /// every ``MemorySample/intervalPeak`` are the true maxima, spikes between samples included.
        case kernelHighWaterMark
        /// With children included: each process's high-water mark, summed. Each is exact, but the processes may
        /// have peaked at different moments, so the sum is an upper bound of the true peak of the total.
        case sumOfHighWaterMarks
        /// The largest sample. A spike that came and went between two samples is missed; ``MemoryTrace/notes``
        /// says why the kernel's mark could not be used.
        case samples
    }

    /// Why the trace ended.
    public enum End: String, Hashable, Sendable, Codable {
        /// The measured closure returned (or threw), or ``MemorySampler/stop()`` was called.
        case stopped
        /// The timeout passed.
        case timeout
        /// The measured process exited.
        case processExited
        /// A reading failed for another reason (a `ps` that stopped answering, say); ``MemoryTrace/notes`` says
        /// which, in the note that starts with ``MemoryTrace/samplingStoppedNote``. The trace holds the samples
        /// until then.
        case readerFailed
    }

    /// How the note of a reading that stopped sampling begins (see ``End/readerFailed``).
    public static let samplingStoppedNote = "sampling stopped: "

    /// How the note begins that says some descendants could not be listed or read for a reason other than their
    /// exit (too many open files, say): their memory is missing from the samples that include children.
    public static let childrenMissedNote = "children not measured: "

    /// A series of samples of one descendant process.
    public struct ChildSeries: Hashable, Sendable {
        /// The child process.
        public var process: ProcessID
        /// Its samples, at the same times as the trace's samples while it was alive.
        public var samples: [MemorySample]
    }

    /// The measured process (for a closure, the current process).
    public var process: ProcessID
    /// The reader that took the samples.
    public var reader: MemoryReader
    /// The requested time between samples.
    public var interval: Duration
    /// The wall-clock time of the trace's time zero, in seconds since 1970-01-01 UTC (what `.dat` files record).
    public var startWallClock: Double
    /// Memory just before the measured work started (for a closure, before it was called).
    public var baseline: MemorySize
    /// The samples, oldest first; empty when only the maximum was asked for.
    public var samples: [MemorySample]
    /// One series per descendant process, when per-child series were asked for.
    public var children: [ChildSeries]
    /// The highest memory reached: exact when ``peakSource`` is ``PeakSource/kernelHighWaterMark``.
    public var peak: MemorySize
    /// When the peak was reached, to the precision of the sample that saw it.
    public var peakTime: Duration
    /// How ``peak`` was found.
    public var peakSource: PeakSource
    /// How long the trace lasted.
    public var duration: Duration
    /// Why it ended.
    public var end: End
    /// How many samples were taken, including those not kept in max-only mode.
    public var sampleCount: Int
    /// Deadlines the sampler could not keep because a reading took longer than the interval.
    public var missedDeadlines: Int
    /// CPU time the sampler thread used: its cost to the measured program.
    public var samplerCPUTime: Duration
    /// Things worth knowing about how the trace was taken (a peak reset that was not permitted, say).
    public var notes: [String]

    /// How far the peak rose above the baseline.
    public var increment: MemorySize { peak - baseline }

    /// The wall-clock time of a sample, in seconds since 1970-01-01 UTC.
    public func wallClock(of sample: MemorySample) -> Double {
        startWallClock + sample.elapsed.seconds
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
    }
}
