/// Runs `body` once, prints its peak memory and increment as memory_profiler's `%memit` does, and returns the
/// trace.
///
/// ```swift
/// try memit { _ = [Double](repeating: 1, count: 10_000_000) }
/// // peak memory: 86.41 MiB, increment: 76.30 MiB
/// ```
///
/// - Parameters:
///   - options: How to sample; every 10 ms by default. With the ``MemoryReader/rss`` reader the peak is exact
///     however short `body` is.
///   - print: Where the line goes; standard output by default.
///   - body: The work to measure.
/// - Returns: The trace, for more than the one line.
/// - Throws: What `body` throws, or a ``MemoryError`` when sampling cannot start.
@discardableResult
public func memit(
    options: SamplingOptions = SamplingOptions(interval: .milliseconds(10)),
    print: (String) -> Void = { Swift.print($0) },
    _ body: () throws -> Void
) throws -> MemoryTrace {
    let (_, trace) = try memoryUsage(options: options, body)
    print(trace.memitSummary)
    return trace
}

extension MemoryTrace {
    /// The trace in memory_profiler's `%memit` words: `peak memory: 62.39 MiB, increment: 0.21 MiB`.
    public var memitSummary: String {
        "peak memory: \(peak.formatted(precision: 2)), increment: \(increment.formatted(precision: 2))"
    }
}
