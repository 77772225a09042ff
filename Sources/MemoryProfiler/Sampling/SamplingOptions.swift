/// How a ``MemorySampler`` measures: what, how often, for how long.
///
/// The defaults match memory_profiler's `memory_usage`: `rss` every 0.1 s, no timeout, the process alone.
///
/// ```swift
/// var options = SamplingOptions(interval: .milliseconds(10))
/// options.includeChildren = true
/// let trace = try memoryUsage(of: ProcessID(4242), options: options)
/// ```
public struct SamplingOptions: Sendable {
    /// Time between two samples. Samples are taken at absolute deadlines (start + n × interval), so the rate
    /// does not drift; a deadline that passes during a slow reading is skipped and counted in
    /// ``MemoryTrace/missedDeadlines``.
    public var interval: Duration
    /// Stop sampling after this long. For a closure, the closure runs to its end regardless, and a last sample
    /// is taken when it returns; `nil` samples until the closure returns or the process exits.
    public var timeout: Duration?
    /// How each sample is read.
    public var reader: MemoryReader
    /// Add the memory of all descendant processes (children, grandchildren…) to each sample.
    public var includeChildren: Bool
    /// Keep one series per descendant process in ``MemoryTrace/children`` (memory_profiler's `multiprocess`).
    public var perChildSeries: Bool
    /// Keep no samples, only the peak, the baseline and the count (memory_profiler's `max_usage`).
    public var maximumOnly: Bool
    /// Use the kernel's high-water mark, reset after every sample, so that no peak between two samples is
    /// missed. Applies to the ``MemoryReader/rss`` reader, whose value the mark tracks.
    ///
    /// The reset writes to `/proc/PID/clear_refs`, which also resets `getrusage`'s max RSS of the measured
    /// process; turn this off if the program relies on that value itself.
    public var exactPeaks: Bool
    /// Receives every sample as it is taken, on the sampler thread (the `.dat` writer of `mprof run` is one).
    public var sink: (any MemorySampleSink)?

    /// Creates options; every parameter has memory_profiler's default.
    public init(
        interval: Duration = .milliseconds(100),
        timeout: Duration? = nil,
        reader: MemoryReader = .rss,
        includeChildren: Bool = false,
        perChildSeries: Bool = false,
        maximumOnly: Bool = false,
        exactPeaks: Bool = true,
        sink: (any MemorySampleSink)? = nil
    ) {
        self.interval = interval
        self.timeout = timeout
        self.reader = reader
        self.includeChildren = includeChildren
        self.perChildSeries = perChildSeries
        self.maximumOnly = maximumOnly
        self.exactPeaks = exactPeaks
        self.sink = sink
    }
}

/// Receives samples while a ``MemorySampler`` runs: to stream them to a file, a socket or a live display.
///
/// All methods are called on the sampler thread, in order: ``begin(process:startWallClock:)`` once,
/// then a ``record(_:)`` per sample (each followed by the ``record(_:child:)`` calls of that moment), then
/// ``end(_:)``. Keep them quick: the sampler waits for them.
public protocol MemorySampleSink: Sendable {
    /// The sampling of `process` starts; `startWallClock` is the wall-clock time of time zero, in seconds since
    /// 1970-01-01 UTC.
    func begin(process: ProcessID, startWallClock: Double)
    /// A sample of the measured total.
    func record(_ sample: MemorySample)
    /// A sample of one descendant process, with per-child series on.
    func record(_ sample: MemorySample, child: ProcessID)
    /// The trace is complete.
    func end(_ trace: MemoryTrace)
}

extension MemorySampleSink {
    public func begin(process: ProcessID, startWallClock: Double) {}
    public func record(_ sample: MemorySample, child: ProcessID) {}
    public func end(_ trace: MemoryTrace) {}
}
