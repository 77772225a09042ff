/// The memory one run of a workload needed at one input size.
public struct MemoryScalingPoint: Hashable, Sendable, Codable {
    /// The input size the workload ran with.
    public var inputSize: Int
    /// Memory just before the run.
    public var baseline: MemorySize
    /// The highest memory during the run (exact with the ``MemoryReader/rss`` reader).
    public var peak: MemorySize
    /// How long the run took.
    public var duration: Duration

    /// How far the run rose above its baseline: the memory the input size cost.
    public var increment: MemorySize { peak - baseline }

    /// Creates a point.
    public init(inputSize: Int, baseline: MemorySize, peak: MemorySize, duration: Duration) {
        self.inputSize = inputSize
        self.baseline = baseline
        self.peak = peak
        self.duration = duration
    }
}

/// Runs `body` once per input size and returns the peak memory of each run: memory against input size, the
/// seed post's second chart.
///
/// Each run gets its own baseline and its own exact peak (the kernel's high-water mark is reset before each),
/// so a large temporary in one run does not hide the next.
///
/// ```swift
/// let points = try memoryUsage(forInputSizes: stride(from: 100, through: 1000, by: 100)) { n in
///     _ = Matrix.random(n, n).pseudoInverse()
/// }
/// for point in points { print(point.inputSize, point.increment) }
/// ```
///
/// - Parameters:
///   - inputSizes: The sizes, in the order to run them.
///   - options: How each run is sampled; only the maximum is kept by default.
///   - body: The workload, given one size per run.
/// - Returns: One point per size, in the same order.
/// - Throws: What `body` throws, or a ``MemoryError`` when sampling cannot start.
public func memoryUsage(
    forInputSizes inputSizes: some Sequence<Int>,
    options: SamplingOptions = SamplingOptions(interval: .milliseconds(10), maximumOnly: true),
    _ body: (Int) throws -> Void
) throws -> [MemoryScalingPoint] {
    var points: [MemoryScalingPoint] = []
    for size in inputSizes {
        let (_, trace) = try memoryUsage(options: options) { try body(size) }
        points.append(
            MemoryScalingPoint(inputSize: size, baseline: trace.baseline, peak: trace.peak, duration: trace.duration))
    }
    return points
}
