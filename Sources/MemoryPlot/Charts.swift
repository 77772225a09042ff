import Glibc
import MemoryProfiler
import MemoryProfilerSystem

/// Memory against input size: the curve `memoryUsage(forInputSizes:)` measures (the `memory-scaling` example
/// prints it), as an SVG chart with one marker per measured size.
public struct ScalingChart: Sendable {
    /// One measured input size.
    public struct Point: Sendable, Hashable {
        public var inputSize: Double
        public var incrementMebibytes: Double
        public var peakMebibytes: Double

        public init(inputSize: Double, incrementMebibytes: Double, peakMebibytes: Double) {
            self.inputSize = inputSize
            self.incrementMebibytes = incrementMebibytes
            self.peakMebibytes = peakMebibytes
        }
    }

    public var title: String
    public var points: [Point]
    public var width: Double
    public var height: Double

    public init(title: String, points: [Point], width: Double = 960, height: Double = 540) {
        self.title = title
        self.points = points.sorted { $0.inputSize < $1.inputSize }
        self.width = width
        self.height = height
    }

    public func svg() -> String {
        let n = SVGWriter.number
        var svg = SVGWriter(width: width, height: height)
        let left = 72.0, right = width - 24, top = 48.0, bottom = height - 56
        let sizes = points.map(\.inputSize)
        let x = LinearScale(
            domain: LinearScale.niceDomain(min(0, sizes.min() ?? 0), sizes.max() ?? 1), range: left...right)
        let highest = points.map { max($0.incrementMebibytes, $0.peakMebibytes) }.max() ?? 1
        let y = LinearScale(domain: LinearScale.niceDomain(0, highest * 1.02), range: top...bottom, inverted: true)
        Axes.draw(into: &svg, title: title, x: x, y: y, xLabel: "input size", yLabel: "memory (MiB)", box: (left, right, top, bottom))
        let series: [(String, String, KeyPath<Point, Double>)] = [
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
                    [("class", "marker"), ("cx", n(x(point.inputSize))), ("cy", n(y(point[keyPath: value]))), ("r", "3.5"), ("fill", color)])
            }
        }
        Axes.legend(into: &svg, entries: series.map { ($0.1, $0.0) }, at: (left + 10, top + 10))
        return svg.finish()
    }
}

/// A horizontal bar chart on a logarithmic axis: what each reader's reading costs (`mprof readers --bench`).
///
/// Every bar is drawn. The axis spans 10^-12 to 10^300: a value beyond it (or not a number) is drawn at its
/// end, so check values before drawing when such a value is an error.
public struct BarChart: Sendable {
    public var title: String
    public var unit: String
    public var bars: [(label: String, value: Double)]
    public var width: Double

    public init(title: String, unit: String, bars: [(label: String, value: Double)], width: Double = 960) {
        self.title = title
        self.unit = unit
        self.bars = bars
        self.width = width
    }

    public func svg() -> String {
        let n = SVGWriter.number
        let rowHeight = 30.0
        let height = 110 + rowHeight * Double(bars.count)
        var svg = SVGWriter(width: width, height: height)
        let labelWidth = (bars.map { TextWidth.of($0.label, fontSize: 12) }.max() ?? 40) + 24
        let left = 24 + labelWidth, right = width - 90, top = 56.0
        let bottom = top + rowHeight * Double(bars.count)
        svg.element("rect", [("width", "100%"), ("height", "100%"), ("fill", "#ffffff")])
        svg.element("text", [("x", n(width / 2)), ("y", "28"), ("text-anchor", "middle"), ("font-size", "15"), ("class", "title")], content: title)
        let values = bars.map { Self.drawable($0.value) }
        let low = (values.min() ?? 1).exponentFloor
        let high = max((values.max() ?? 10).exponentCeiling, low * 10)
        func xOf(_ value: Double) -> Double {
            left + (log10(Self.drawable(value)) - log10(low)) / (log10(high) - log10(low)) * (right - left)
        }
        var decade = low
        svg.open("g", [("id", "x-axis"), ("text-anchor", "middle"), ("fill", "#333333")])
        while decade <= high * 1.0001 {
            svg.element("line", [("x1", n(xOf(decade))), ("x2", n(xOf(decade))), ("y1", n(top)), ("y2", n(bottom)), ("stroke", "#e3e3e3")])
            svg.element("text", [("x", n(xOf(decade))), ("y", n(bottom + 18)), ("class", "tick-label")], content: Self.label(decade))
            decade *= 10
        }
        svg.element("text", [("x", n((left + right) / 2)), ("y", n(bottom + 42)), ("class", "axis-label")], content: "\(unit) (logarithmic)")
        svg.close("g")
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

/// Axes, grid and legend shared by the simple charts.
enum Axes {
    static func draw(
        into svg: inout SVGWriter, title: String, x: LinearScale, y: LinearScale, xLabel: String, yLabel: String,
        box: (left: Double, right: Double, top: Double, bottom: Double)
    ) {
        let n = SVGWriter.number
        svg.element("rect", [("width", "100%"), ("height", "100%"), ("fill", "#ffffff")])
        svg.element("text", [("x", n((box.left + box.right) / 2)), ("y", "26"), ("text-anchor", "middle"), ("font-size", "15"), ("class", "title")], content: title)
        let xTicks = x.ticks(count: 8)
        let yTicks = y.ticks(count: 6)
        let xStep = xTicks.count > 1 ? xTicks[1] - xTicks[0] : 1
        let yStep = yTicks.count > 1 ? yTicks[1] - yTicks[0] : 1
        svg.open("g", [("class", "grid"), ("stroke", "#e3e3e3")])
        for tick in xTicks { svg.element("line", [("x1", n(x(tick))), ("x2", n(x(tick))), ("y1", n(box.top)), ("y2", n(box.bottom))]) }
        for tick in yTicks { svg.element("line", [("x1", n(box.left)), ("x2", n(box.right)), ("y1", n(y(tick))), ("y2", n(y(tick)))]) }
        svg.close("g")
        svg.element("rect", [("x", n(box.left)), ("y", n(box.top)), ("width", n(box.right - box.left)), ("height", n(box.bottom - box.top)), ("fill", "none"), ("stroke", "#555555")])
        svg.open("g", [("id", "x-axis"), ("text-anchor", "middle"), ("fill", "#333333")])
        for tick in xTicks { svg.element("text", [("x", n(x(tick))), ("y", n(box.bottom + 18)), ("class", "tick-label")], content: LinearScale.label(tick, step: xStep)) }
        svg.element("text", [("x", n((box.left + box.right) / 2)), ("y", n(box.bottom + 42)), ("class", "axis-label")], content: xLabel)
        svg.close("g")
        svg.open("g", [("id", "y-axis"), ("text-anchor", "end"), ("fill", "#333333")])
        for tick in yTicks { svg.element("text", [("x", n(box.left - 8)), ("y", n(y(tick) + 4)), ("class", "tick-label")], content: LinearScale.label(tick, step: yStep)) }
        let middle = (box.top + box.bottom) / 2
        svg.element("text", [("x", "18"), ("y", n(middle)), ("text-anchor", "middle"), ("transform", "rotate(-90 18 \(n(middle)))"), ("class", "axis-label")], content: yLabel)
        svg.close("g")
    }

    static func legend(into svg: inout SVGWriter, entries: [(color: String, text: String)], at origin: (Double, Double)) {
        let n = SVGWriter.number
        let width = (entries.map { TextWidth.of($0.text, fontSize: 11) }.max() ?? 0) + 52
        svg.open("g", [("class", "legend"), ("font-size", "11")])
        svg.element("rect", [("x", n(origin.0)), ("y", n(origin.1)), ("width", n(width)), ("height", n(Double(entries.count) * 17 + 8)), ("fill", "#ffffff"), ("fill-opacity", "0.85"), ("stroke", "#cccccc")])
        for (index, entry) in entries.enumerated() {
            let y = origin.1 + 14 + Double(index) * 17
            svg.open("g", [("class", "legend-entry")])
            svg.element("line", [("x1", n(origin.0 + 8)), ("x2", n(origin.0 + 28)), ("y1", n(y - 4)), ("y2", n(y - 4)), ("stroke", entry.color), ("stroke-width", "2")])
            svg.element("text", [("x", n(origin.0 + 34)), ("y", n(y)), ("fill", "#222222")], content: entry.text)
            svg.close("g")
        }
        svg.close("g")
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
