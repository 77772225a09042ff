import MemoryProfiler

/// What `mprof plot` draws: memory over time from one or more `.dat` files, with function brackets, the peak,
/// the kernel's true peaks, flame rectangles, a trend line and child processes.
///
/// Build it from parsed files, then render it as SVG, self-contained HTML or terminal text:
///
/// ```swift
/// let plot = MemoryPlot(files: [try MprofFile(path: "mprofile_20261125140000.dat")], options: .init(slope: true))
/// let svg = plot.svg()
/// ```
///
/// Big files are reduced per pixel column to the first, lowest, highest and last sample, so no peak or trough
/// is lost and the drawing stays small.
public struct MemoryPlot: Sendable {
    /// What to draw besides the curves.
    public struct Options: Sendable, Hashable {
        /// The title; nil for the command line of the first file.
        public var title: String?
        /// Only this stretch of time, in seconds from each file's first sample; at least
        /// ``MemoryPlot/minimumWindow`` long (a narrower one is widened at its end).
        public var window: ClosedRange<Double>?
        /// Draw `[` … `]` brackets for function records (single file only, as memory_profiler).
        public var showsFunctions: Bool
        /// Draw function calls as rectangles stacked by nesting level.
        public var flame: Bool
        /// Draw a least-squares trend line per file, with its slope in the legend.
        public var slope: Bool
        /// The picture's size in pixels.
        public var width: Double
        public var height: Double

        /// Creates options; the defaults draw brackets, no flame, no slope, at 960×540.
        public init(
            title: String? = nil, window: ClosedRange<Double>? = nil, showsFunctions: Bool = true, flame: Bool = false,
            slope: Bool = false, width: Double = 960, height: Double = 540
        ) {
            self.title = title
            self.window = window
            self.showsFunctions = showsFunctions
            self.flame = flame
            self.slope = slope
            self.width = width
            self.height = height
        }
    }

    /// One curve: a file's main series or one of its children.
    struct Series: Sendable {
        var label: String
        var color: String
        var points: [Point]
        var isChild: Bool
        /// The kernel's true peaks, merged with the samples: drawn as a faint envelope.
        var envelope: [Point]
        var peak: Point?
        var peakIsTrue: Bool
        var startWallClock: Double
        var slope: (mebibytesPerSecond: Double, intercept: Double)?
        /// The heap in use from a heap capture (`mprof run --heap`), drawn under the file's resident set.
        var isHeap = false
    }

    struct Point: Sendable, Hashable {
        var time: Double
        var mebibytes: Double
    }

    /// A function call: a bracket pair, or a flame rectangle.
    struct Call: Sendable {
        var name: String
        var shortName: String
        var start: Point
        var end: Point
        var level: Int
        var color: String
    }

    let options: Options
    let title: String
    var series: [Series] = []
    var calls: [Call] = []
    let timeDomain: ClosedRange<Double>
    let memoryDomain: ClosedRange<Double>

    /// The times of all the files' samples and `PEAK` records, window or not, in seconds from each file's first
    /// sample (the plot's time axis); nil when the files have none.
    public let dataTimeSpan: ClosedRange<Double>?

    /// Whether nothing is drawn: no sample or `PEAK` record of any file falls in the window.
    public var isEmpty: Bool {
        series.allSatisfy { $0.points.isEmpty && $0.envelope.isEmpty }
    }

    /// The narrowest time window drawn: one microsecond, a hundredth of the resolution of the times `mprof run`
    /// writes (0.1 ms).
    public static let minimumWindow = 1e-6

    static let palette = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    ]

    /// Lays out the plot of `files` (each from its own time zero: its first sample).
    ///
    /// Points are drawn in file order over the whole range of their times, so a file whose clock went backwards
    /// still shows every sample. Sizes and the window are clamped to what can be drawn (200×150 to
    /// 100,000×100,000 pixels; a window within ±10^12 s), so no option makes the renderers trap.
    ///
    /// `heaps` holds, per file (in the same order), the heap capture of the same run, if there is one: its heap in
    /// use over time is drawn under the file's curve, with the heap's peak marked, so the gap between them —
    /// memory the allocator keeps, memory not from malloc — shows.
    public init(files: [MprofFile], heaps: [HeapCapture?] = [], options: Options = Options()) {
        let options = Self.drawable(options)
        self.options = options
        title = options.title ?? files.first.map { ($0.commandLine ?? $0.path).trimmingBlanks } ?? "memory"
        var builder = SeriesBuilder(options: options, single: files.count == 1)
        for (index, file) in files.enumerated() { builder.add(file, heap: index < heaps.count ? heaps[index] : nil) }
        series = builder.series
        calls = builder.calls
        dataTimeSpan = builder.earliest <= builder.latest ? builder.earliest...builder.latest : nil
        (timeDomain, memoryDomain) = Self.domains(of: builder.series, calls: builder.calls, window: options.window)
    }

    /// The options with sizes and the window clamped to what can be drawn.
    private static func drawable(_ options: Options) -> Options {
        var options = options
        // At least what the margins around the plot area need (72 + 24 wide, 48 + 56 high), with room inside.
        options.width = clamped(options.width, 200...100_000, default: 960)
        options.height = clamped(options.height, 150...100_000, default: 540)
        if let window = options.window {
            let lower = clamped(window.lowerBound, -1e12...1e12, default: 0)
            let upper = clamped(window.upperBound, -1e12...1e12, default: 1e12)
            options.window = upper > lower ? lower...max(upper, lower + minimumWindow) : nil
        }
        return options
    }

    /// The series and calls of the files, as they are added, with the span of all their times.
    private struct SeriesBuilder {
        let options: Options
        let single: Bool
        var series: [Series] = []
        var calls: [Call] = []
        var earliest = Double.infinity
        var latest = -Double.infinity
        private var colorIndex = 0

        init(options: Options, single: Bool) {
            self.options = options
            self.single = single
        }

        /// Notes `time` in the span of the data and returns it.
        private mutating func spans(_ time: Double) -> Double {
            earliest = min(earliest, time)
            latest = max(latest, time)
            return time
        }

        private mutating func nextColor() -> String {
            defer { colorIndex += 1 }
            return MemoryPlot.palette[colorIndex % MemoryPlot.palette.count]
        }

        private func inWindow(_ time: Double) -> Bool {
            options.window.map { $0.contains(time) } ?? true
        }

        /// Adds the file's main series (with its kernel peaks), its children and, for a single file, its calls.
        mutating func add(_ file: MprofFile, heap: HeapCapture?) {
            // Without samples (a program that ended before the first), its lifetime peak alone is drawn.
            guard let zero = file.samples.first?.wallClock ?? file.intervalPeaks.first?.end else { return }
            var main: [Point] = []
            main.reserveCapacity(file.samples.count)
            for sample in file.samples where inWindow(spans(sample.wallClock - zero)) {
                main.append(Point(time: sample.wallClock - zero, mebibytes: sample.mebibytes))
            }
            var peaks: [Point] = []
            for peak in file.intervalPeaks {
                let end = peak.end - zero
                let start = (peak.start ?? peak.end) - zero
                let point = Point(time: spans((start + end) / 2), mebibytes: peak.mebibytes)
                if inWindow(point.time) { peaks.append(point) }
            }
            let color = single ? "#222222" : nextColor()
            var mainSeries = Series(
                label: String(file.path.split(separator: "/").last ?? Substring(file.path)), color: color, points: main,
                isChild: false,
                envelope: peaks.isEmpty ? [] : MemoryPlot.merge(main, peaks), peak: nil, peakIsTrue: false,
                startWallClock: zero, slope: options.slope ? MemoryPlot.leastSquares(main) : nil)
            let highestSample = main.max { $0.mebibytes < $1.mebibytes }
            let highestPeak = peaks.max { $0.mebibytes < $1.mebibytes }
            if let highestPeak, highestPeak.mebibytes > (highestSample?.mebibytes ?? -.infinity) {
                mainSeries.peak = highestPeak
                mainSeries.peakIsTrue = true
            } else {
                mainSeries.peak = highestSample
            }
            series.append(mainSeries)
            for child in file.children {
                var childPoints: [Point] = []
                for sample in child.samples {
                    let point = Point(time: spans(sample.wallClock - zero), mebibytes: sample.mebibytes)
                    if inWindow(point.time) { childPoints.append(point) }
                }
                guard !childPoints.isEmpty else { continue }
                series.append(
                    Series(
                        label: "child \(child.process)", color: nextColor(), points: childPoints, isChild: true,
                        envelope: [], peak: nil, peakIsTrue: false, startWallClock: zero, slope: nil))
            }
            if let heap { addHeap(heap, zero: zero) }
            // Brackets and flames belong to one time line: with several files, memory_profiler leaves them out.
            if single && (options.showsFunctions || options.flame) { addCalls(of: file, zero: zero) }
        }

        /// The heap in use over time, on the file's time line (both clocks are the wall clock).
        private mutating func addHeap(_ heap: HeapCapture, zero: Double) {
            var points: [Point] = []
            var peak: Point?
            for entry in heap.heapTimeline {
                let point = Point(time: heap.startTime + entry.time - zero, mebibytes: Double(entry.bytes) / 1_048_576)
                guard point.time.isFinite, point.mebibytes.isFinite, inWindow(spans(point.time)) else { continue }
                points.append(point)
                if entry.bytes == heap.summary.peakBytes && peak == nil { peak = point }
            }
            guard !points.isEmpty else { return }
            var series = Series(
                label: "heap in use (mprof run --heap)", color: "#2ca02c", points: points, isChild: true, envelope: [],
                peak: peak, peakIsTrue: true, startWallClock: zero, slope: nil)
            series.isHeap = true
            self.series.append(series)
        }

        private mutating func addCalls(of file: MprofFile, zero: Double) {
            var functionColors: [String: String] = [:]
            for record in file.functions {
                let start = Point(time: record.startWallClock - zero, mebibytes: record.startMemory.mebibytes)
                let end = Point(time: record.endWallClock - zero, mebibytes: record.endMemory.mebibytes)
                if let window = options.window, end.time < window.lowerBound || start.time > window.upperBound {
                    continue
                }
                let color = functionColors[record.name] ?? {
                    let color = MemoryPlot.palette[(functionColors.count + 1) % MemoryPlot.palette.count]
                    functionColors[record.name] = color
                    return color
                }()
                calls.append(
                    Call(
                        name: record.name, shortName: MemoryPlot.shortName(record.name), start: start, end: end,
                        level: record.level ?? 0, color: color))
            }
        }
    }

    /// The time and memory axes' domains for what is drawn.
    private static func domains(
        of series: [Series], calls: [Call], window: ClosedRange<Double>?
    ) -> (time: ClosedRange<Double>, memory: ClosedRange<Double>) {
        var firstTime = Double.infinity
        var lastTime = -Double.infinity
        var highestPoint = -Double.infinity
        for series in series {
            for point in series.points + series.envelope {
                firstTime = min(firstTime, point.time)
                lastTime = max(lastTime, point.time)
                highestPoint = max(highestPoint, point.mebibytes)
            }
        }
        if firstTime > lastTime { (firstTime, lastTime) = (0, 1) }
        let timeDomain: ClosedRange<Double>
        if let window {
            // The window as asked, cut at the end of the data (as memory_profiler's --window does), but never
            // narrower than the narrowest window.
            let end = min(window.upperBound, max(lastTime, window.lowerBound))
            timeDomain = window.lowerBound...max(end, min(window.upperBound, window.lowerBound + minimumWindow))
        } else {
            // A single sample, or all at one time: a second from it rather than a zero-width axis.
            timeDomain = lastTime - firstTime >= 1e-3 ? firstTime...lastTime : firstTime...(firstTime + 1)
        }
        let highest = max(highestPoint, calls.map { max($0.start.mebibytes, $0.end.mebibytes) }.max() ?? 0)
        return (timeDomain, LinearScale.niceDomain(0, highest > 0 ? highest * 1.02 : 1))
    }

    /// `value` inside `range`; `fallback` for NaN.
    static func clamped(_ value: Double, _ range: ClosedRange<Double>, default fallback: Double) -> Double {
        value.isNaN ? fallback : min(max(value, range.lowerBound), range.upperBound)
    }

    /// `__main__.grow` → `grow`, `Catalog.load(from:)` → `load(from:)`: the last component, for labels.
    static func shortName(_ name: String) -> String {
        let withoutArguments = name.split(separator: "(", maxSplits: 1).first.map(String.init) ?? name
        guard let dot = withoutArguments.lastIndex(of: ".") else { return name }
        return String(name[name.index(after: dot)...])
    }

    static func merge(_ samples: [Point], _ peaks: [Point]) -> [Point] {
        (samples + peaks).sorted { $0.time < $1.time }
    }

    /// The least-squares line through the points: slope in MiB/s and value at time zero.
    static func leastSquares(_ points: [Point]) -> (mebibytesPerSecond: Double, intercept: Double)? {
        guard points.count >= 2 else { return nil }
        let count = Double(points.count)
        let meanTime = points.reduce(0) { $0 + $1.time } / count
        let meanMemory = points.reduce(0) { $0 + $1.mebibytes } / count
        var covariance = 0.0
        var variance = 0.0
        for point in points {
            covariance += (point.time - meanTime) * (point.mebibytes - meanMemory)
            variance += (point.time - meanTime) * (point.time - meanTime)
        }
        guard variance > 0 else { return nil }
        let slope = covariance / variance
        return (slope, meanMemory - slope * meanTime)
    }

    /// The points to draw for a series at a given horizontal resolution: per pixel column its first, lowest,
    /// highest and last point, in time order. Every local extreme survives, so the global peak does too.
    ///
    /// Points keep their file order: where time goes backwards, a column simply starts again.
    static func reduced(_ points: [Point], scale: LinearScale) -> [Point] {
        let columns = LinearScale.pixel(scale.range.upperBound - scale.range.lowerBound)
        guard points.count > columns * 4 else { return points }
        var result: [Point] = []
        result.reserveCapacity(columns * 4)
        var column = Int.min
        var first = points[0]
        var lowest = points[0]
        var highest = points[0]
        var last = points[0]
        func flush() {
            var bucket = [first]
            for point in lowest.time <= highest.time ? [lowest, highest] : [highest, lowest] where point != bucket.last {
                bucket.append(point)
            }
            if last != bucket.last { bucket.append(last) }
            result += bucket
        }
        for point in points {
            let pointColumn = LinearScale.pixel(scale(point.time).rounded(.down))
            if pointColumn != column {
                if column != Int.min { flush() }
                column = pointColumn
                (first, lowest, highest, last) = (point, point, point, point)
            } else {
                if point.mebibytes < lowest.mebibytes { lowest = point }
                if point.mebibytes > highest.mebibytes { highest = point }
                last = point
            }
        }
        flush()
        return result
    }
}

extension String {
    var trimmingBlanks: String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text = text.dropFirst() }
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        return String(text)
    }
}
