import Glibc
import MemoryProfiler
import MemoryProfilerSystem

/// Memory against input size: the curve `memoryUsage(forInputSizes:)` measures (the `memory-scaling` example
/// prints it), as an SVG chart with one marker per measured size.
///
/// ```swift
/// let points = try memoryUsage(forInputSizes: [100, 200, 400]) { n in _ = Matrix.random(n, n).pseudoInverse() }
/// let svg = ScalingChart(title: "pinv", points: points.map { ScalingChart.Point($0) }).svg()
/// ```
public struct ScalingChart: Sendable {
    /// One measured input size.
    public struct Point: Sendable, Hashable {
        /// The input size the workload ran with.
        public var inputSize: Double
        /// How far memory rose above its baseline during the run, in MiB.
        public var incrementMebibytes: Double
        /// The highest memory during the run, in MiB.
        public var peakMebibytes: Double

        /// Creates a point from values in MiB.
        public init(inputSize: Double, incrementMebibytes: Double, peakMebibytes: Double) {
            self.inputSize = inputSize
            self.incrementMebibytes = incrementMebibytes
            self.peakMebibytes = peakMebibytes
        }

        /// Creates the point of one run of `memoryUsage(forInputSizes:)`.
        public init(_ point: MemoryScalingPoint) {
            self.init(
                inputSize: Double(point.inputSize), incrementMebibytes: point.increment.mebibytes,
                peakMebibytes: point.peak.mebibytes)
        }
    }

    /// The title above the chart.
    public var title: String
    /// The points, by input size.
    public var points: [Point]
    /// The picture's width in pixels.
    public var width: Double
    /// The picture's height in pixels.
    public var height: Double

    /// Creates a chart of `points`, which it sorts by input size.
    public init(title: String, points: [Point], width: Double = 960, height: Double = 540) {
        self.title = title
        self.points = points.sorted { $0.inputSize < $1.inputSize }
        self.width = width
        self.height = height
    }

    /// The chart as an SVG document: the increment and the peak as two lines, with a marker (class `marker`,
    /// its values in `data-input-size` and `data-mebibytes`) per point.
    public func svg() -> String {
        let n = SVGWriter.number
        var svg = SVGWriter(width: width, height: height)
        let area = ChartFrame.plotArea(width: width, height: height)
        let sizes = points.map(\.inputSize)
        let x = LinearScale(
            domain: LinearScale.niceDomain(min(0, sizes.min() ?? 0), sizes.max() ?? 1), range: area.left...area.right)
        let highest = points.map { max($0.incrementMebibytes, $0.peakMebibytes) }.max() ?? 1
        let y = LinearScale(domain: LinearScale.niceDomain(0, highest * 1.02), range: area.top...area.bottom, inverted: true)
        let frame = ChartFrame(
            title: title, width: width, height: height, x: .linear(x, tickCount: 8, label: "input size"),
            y: .linear(y, tickCount: 6, label: "memory (MiB)"))
        frame.draw(into: &svg)
        let series: [(label: String, color: String, value: KeyPath<Point, Double>)] = [
            ("increment over the baseline", "#1f77b4", \.incrementMebibytes), ("peak", "#ff7f0e", \.peakMebibytes),
        ]
        for (label, color, value) in series {
            let line = points.map { "\(n(x($0.inputSize))),\(n(y($0[keyPath: value])))" }.joined(separator: " ")
            svg.element(
                "polyline",
                [("class", "curve"), ("data-label", label), ("points", line), ("fill", "none"), ("stroke", color), ("stroke-width", "1.6")])
            for point in points {
                svg.element(
                    "circle",
                    [("class", "marker"), ("data-label", label), ("data-input-size", String(point.inputSize)),
                     ("data-mebibytes", String(point[keyPath: value])), ("cx", n(x(point.inputSize))),
                     ("cy", n(y(point[keyPath: value]))), ("r", "3.5"), ("fill", color)])
            }
        }
        frame.drawLegend(series.map { .init(color: $0.color, text: $0.label) }, at: (area.left + 10, area.top + 10), into: &svg)
        return svg.finish()
    }
}
