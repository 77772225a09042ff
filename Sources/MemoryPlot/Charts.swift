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

/// A horizontal bar chart on a logarithmic axis: what each reader's reading costs (`mprof readers --bench`).
///
/// Every bar is drawn. The axis spans 10^-12 to 10^300: a value beyond it (or not a number) is drawn at its
/// end, so check values before drawing when such a value is an error.
public struct BarChart: Sendable {
    /// The title above the chart.
    public var title: String
    /// The unit of the values, printed after each and under the axis.
    public var unit: String
    /// The bars, top to bottom: a label left of each, its value at its end.
    public var bars: [(label: String, value: Double)]
    /// The picture's width in pixels; its height follows from the number of bars.
    public var width: Double

    /// Creates a chart of `bars`, drawn in the order given.
    public init(title: String, unit: String, bars: [(label: String, value: Double)], width: Double = 960) {
        self.title = title
        self.unit = unit
        self.bars = bars
        self.width = width
    }

    /// The chart as an SVG document, a group of class `bar` per bar with its label and value in `data-label` and
    /// `data-value`.
    public func svg() -> String {
        let n = SVGWriter.number
        let rowHeight = 30.0
        let height = 110 + rowHeight * Double(bars.count)
        var svg = SVGWriter(width: width, height: height)
        let labelWidth = (bars.map { TextWidth.of($0.label, fontSize: 12) }.max() ?? 40) + 24
        let left = 24 + labelWidth, right = width - 90, top = 56.0
        let bottom = top + rowHeight * Double(bars.count)
        let values = bars.map { Self.drawable($0.value) }
        let low = (values.min() ?? 1).exponentFloor
        let high = max((values.max() ?? 10).exponentCeiling, low * 10)
        func xOf(_ value: Double) -> Double {
            left + (log10(Self.drawable(value)) - log10(low)) / (log10(high) - log10(low)) * (right - left)
        }
        var decades: [(position: Double, label: String)] = []
        var decade = low
        while decade <= high * 1.0001 {
            decades.append((xOf(decade), Self.label(decade)))
            decade *= 10
        }
        // The bars label their own rows: no value axis, so no box that the value labels would cross.
        let frame = ChartFrame(
            title: title, width: width, height: height, left: left, right: right, top: top, bottom: bottom,
            x: ChartFrame.Axis(ticks: decades, label: "\(unit) (logarithmic)"), y: nil)
        frame.draw(into: &svg)
        for (index, bar) in bars.enumerated() {
            let y = top + Double(index) * rowHeight + 5
            svg.open("g", [("class", "bar"), ("data-label", bar.label), ("data-value", String(bar.value))])
            svg.element("text", [("x", n(left - 10)), ("y", n(y + 15)), ("text-anchor", "end"), ("fill", "#222222")], content: bar.label)
            svg.element("rect", [("x", n(left)), ("y", n(y)), ("width", n(max(1, xOf(bar.value) - left))), ("height", n(rowHeight - 10)), ("fill", MemoryPlot.palette[index % MemoryPlot.palette.count])])
            svg.element("text", [("x", n(xOf(bar.value) + 6)), ("y", n(y + 15)), ("fill", "#222222"), ("class", "value-label")], content: "\(Self.label(bar.value)) \(unit)")
            svg.close("g")
        }
        return svg.finish()
    }

    /// `value` within the axis's widest span; NaN at its low end.
    static func drawable(_ value: Double) -> Double {
        value.isNaN ? 1e-12 : min(max(value, 1e-12), 1e300)
    }

    static func label(_ value: Double) -> String {
        if value >= 100 { return DecimalFormat.fixed(value, decimals: 0) }
        if value >= 10 { return DecimalFormat.fixed(value, decimals: 1) }
        if value >= 1 { return DecimalFormat.fixed(value, decimals: 2) }
        return DecimalFormat.fixed(value, decimals: 3)
    }
}

extension Double {
    /// The power of ten at or below the value.
    var exponentFloor: Double {
        guard isFinite, self >= 1e-12, self <= 1e300 else { return 1 }
        var power = 1.0
        while power > self { power /= 10 }
        while power * 10 <= self { power *= 10 }
        return power
    }

    /// The power of ten at or above the value.
    var exponentCeiling: Double {
        let floor = exponentFloor
        return floor == self ? floor : floor * 10
    }
}
