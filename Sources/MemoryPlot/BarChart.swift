import Glibc
import MemoryProfiler
import MemoryProfilerSystem

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
