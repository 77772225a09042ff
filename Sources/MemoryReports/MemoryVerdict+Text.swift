import MemoryProfiler

extension MemoryVerdict {
    /// The verdict in one line, as every report words it: `leak: +1.2 MiB/s over the last 10.0 s (p …)`.
    public var text: String { "\(kind.rawValue): \(explanation)" }
}
