/// What every chart draws around its data: the background, the title, the grid, the border of the plot area, tick
/// and axis labels, and the legend.
///
/// Charts draw their data between ``draw(into:)`` and ``drawLegend(_:at:into:)``, so the grid lies under the data
/// and the legend over it. Class names and ids (`grid`, `vertical`, `frame`, `x-axis`, `y-axis`, `tick-label`,
/// `axis-label`, `legend-entry`) are the same in every chart: tests and the HTML page's script find them by these.
struct ChartFrame {
    /// One axis: where its ticks are, in pixels, what they read, and what the axis measures.
    struct Axis {
        var ticks: [(position: Double, label: String)]
        var label: String

        /// About `count` round values of a linear scale, labelled with as many decimals as their step needs.
        static func linear(_ scale: LinearScale, tickCount count: Int, label: String) -> Axis {
            let values = scale.ticks(count: count)
            let step = values.count > 1 ? values[1] - values[0] : 1
            return Axis(ticks: values.map { (scale($0), LinearScale.label($0, step: step)) }, label: label)
        }
    }

    /// A line of the legend.
    struct LegendEntry {
        var color: String
        var text: String
        var dashed = false
    }

    var title: String
    var width: Double
    var height: Double
    /// The plot area, in pixels from the picture's top left corner.
    var left: Double
    var right: Double
    var top: Double
    var bottom: Double
    var x: Axis
    /// The value axis; nil for a chart whose rows label themselves (a bar chart), which then has horizontal grid
    /// lines and border neither.
    var y: Axis?

    /// The plot area of a picture of this size with the standard margins: room on the left for value labels and
    /// below for the x axis's. Charts lay out their scales on it before they make their axes.
    static func plotArea(width: Double, height: Double) -> (left: Double, right: Double, top: Double, bottom: Double) {
        (72, width - 24, 48, height - 56)
    }

    /// Draws everything that goes under the data.
    func draw(into svg: inout SVGWriter) {
        let n = SVGWriter.number
        svg.element("rect", [("width", "100%"), ("height", "100%"), ("fill", "#ffffff")])
        svg.element(
            "text", [("x", n(width / 2)), ("y", "26"), ("text-anchor", "middle"), ("font-size", "15"), ("class", "title")],
            content: title)

        svg.open("g", [("class", "grid"), ("stroke", "#e3e3e3"), ("stroke-width", "1")])
        // The HTML page redraws the vertical lines when it zooms in on time: it finds them by their class.
        for tick in x.ticks {
            svg.element(
                "line",
                [("class", "vertical"), ("x1", n(tick.position)), ("x2", n(tick.position)), ("y1", n(top)), ("y2", n(bottom))])
        }
        for tick in y?.ticks ?? [] {
            svg.element("line", [("x1", n(left)), ("x2", n(right)), ("y1", n(tick.position)), ("y2", n(tick.position))])
        }
        svg.close("g")
        if y != nil {
            svg.element(
                "rect",
                [("x", n(left)), ("y", n(top)), ("width", n(right - left)), ("height", n(bottom - top)), ("fill", "none"),
                 ("stroke", "#555555"), ("class", "frame")])
        }

        svg.open("g", [("id", "x-axis"), ("class", "axis"), ("fill", "#333333"), ("text-anchor", "middle")])
        for tick in x.ticks {
            svg.element("text", [("x", n(tick.position)), ("y", n(bottom + 18)), ("class", "tick-label")], content: tick.label)
        }
        svg.element("text", [("x", n((left + right) / 2)), ("y", n(bottom + 42)), ("class", "axis-label")], content: x.label)
        svg.close("g")
        guard let y else { return }
        svg.open("g", [("id", "y-axis"), ("class", "axis"), ("fill", "#333333"), ("text-anchor", "end")])
        for tick in y.ticks {
            svg.element("text", [("x", n(left - 8)), ("y", n(tick.position + 4)), ("class", "tick-label")], content: tick.label)
        }
        let middle = n((top + bottom) / 2)
        svg.element(
            "text",
            [("x", "18"), ("y", middle), ("text-anchor", "middle"), ("transform", "rotate(-90 18 \(middle))"),
             ("class", "axis-label")],
            content: y.label)
        svg.close("g")
    }

    /// The width and height of the legend of these entries, for finding a place for it.
    static func legendSize(_ entries: [LegendEntry]) -> (width: Double, height: Double) {
        ((entries.map { TextWidth.of($0.text, fontSize: 11) }.max() ?? 0) + 52, Double(entries.count) * 17 + 8)
    }

    /// Draws the legend with its top left corner at `origin`, over the data.
    func drawLegend(_ entries: [LegendEntry], at origin: (x: Double, y: Double), into svg: inout SVGWriter) {
        let n = SVGWriter.number
        let size = Self.legendSize(entries)
        svg.open("g", [("class", "legend"), ("font-size", "11")])
        svg.element(
            "rect",
            [("x", n(origin.x)), ("y", n(origin.y)), ("width", n(size.width)), ("height", n(size.height)), ("fill", "#ffffff"),
             ("fill-opacity", "0.85"), ("stroke", "#cccccc")])
        for (index, entry) in entries.enumerated() {
            let rowY = origin.y + 14 + Double(index) * 17
            svg.open("g", [("class", "legend-entry")])
            var line = [
                ("x1", n(origin.x + 8)), ("x2", n(origin.x + 28)), ("y1", n(rowY - 4)), ("y2", n(rowY - 4)),
                ("stroke", entry.color), ("stroke-width", "2"),
            ]
            if entry.dashed { line.append(("stroke-dasharray", "4 3")) }
            svg.element("line", line)
            svg.element("text", [("x", n(origin.x + 34)), ("y", n(rowY)), ("fill", "#222222")], content: entry.text)
            svg.close("g")
        }
        svg.close("g")
    }
}

extension ChartFrame {
    /// A frame with the standard margins of ``plotArea(width:height:)``. (In an extension, so that the
    /// memberwise initializer, with margins of the chart's own, stays.)
    init(title: String, width: Double, height: Double, x: Axis, y: Axis?) {
        let area = Self.plotArea(width: width, height: height)
        self.init(
            title: title, width: width, height: height, left: area.left, right: area.right, top: area.top,
            bottom: area.bottom, x: x, y: y)
    }
}
