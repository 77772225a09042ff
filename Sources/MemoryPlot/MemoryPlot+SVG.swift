import Glibc
import MemoryProfiler
import MemoryProfilerSystem

extension MemoryPlot {
    /// Where things go on the picture.
    struct Layout {
        let frame: ChartFrame
        let time: LinearScale
        let memory: LinearScale
        var left: Double { frame.left }
        var right: Double { frame.right }
        var top: Double { frame.top }
        var bottom: Double { frame.bottom }

        init(plot: MemoryPlot) {
            let area = ChartFrame.plotArea(width: plot.options.width, height: plot.options.height)
            time = LinearScale(domain: plot.timeDomain, range: area.left...area.right)
            memory = LinearScale(domain: plot.memoryDomain, range: area.top...area.bottom, inverted: true)
            frame = ChartFrame(
                title: plot.title, width: plot.options.width, height: plot.options.height,
                x: .linear(time, tickCount: 8, label: "time (s)"), y: .linear(memory, tickCount: 6, label: "memory used (MiB)"))
        }
    }

    /// The plot as an SVG document.
    public func svg() -> String {
        var writer = SVGWriter(width: options.width, height: options.height)
        drawSVG(into: &writer, layout: Layout(plot: self))
        return writer.finish()
    }

    func drawSVG(into svg: inout SVGWriter, layout: Layout) {
        let n = SVGWriter.number
        layout.frame.draw(into: &svg)

        svg.open("clipPath", [("id", "plot-area")])
        svg.element(
            "rect",
            [("x", n(layout.left)), ("y", n(layout.top)), ("width", n(layout.right - layout.left)), ("height", n(layout.bottom - layout.top))])
        svg.close("clipPath")
        svg.open("g", [("clip-path", "url(#plot-area)"), ("class", "data")])

        if options.flame { drawFlame(into: &svg, layout: layout) }

        let reduced = series.map { Self.reduced($0.points, scale: layout.time) }
        let reducedEnvelopes = series.map { Self.reduced($0.envelope, scale: layout.time) }
        for (index, series) in series.enumerated() {
            if !series.envelope.isEmpty {
                svg.element(
                    "polyline",
                    [("class", "envelope"), ("data-series", String(index)), ("fill", "none"), ("stroke", "#d62728"),
                     ("stroke-opacity", "0.55"), ("stroke-width", "1"), ("stroke-dasharray", "3 2"),
                     ("points", Self.polyline(reducedEnvelopes[index], layout))])
            }
            svg.element(
                "polyline",
                [("class", series.isHeap ? "curve heap" : series.isChild ? "curve child" : "curve"), ("data-series", String(index)),
                 ("data-label", series.label), ("fill", "none"), ("stroke", series.color),
                 ("stroke-width", series.isChild ? "1.2" : "1.6"), ("stroke-linejoin", "round"),
                 ("points", Self.polyline(reduced[index], layout))])
            if let slope = series.slope {
                let start = layout.time.domain.lowerBound
                let end = layout.time.domain.upperBound
                svg.element(
                    "line",
                    [("class", "slope"), ("x1", n(layout.time(start))), ("y1", n(layout.memory(slope.intercept + slope.mebibytesPerSecond * start))),
                     ("x2", n(layout.time(end))), ("y2", n(layout.memory(slope.intercept + slope.mebibytesPerSecond * end))),
                     ("stroke", series.color), ("stroke-width", "1.2"), ("stroke-dasharray", "8 4"), ("stroke-opacity", "0.8")])
            }
        }

        if options.showsFunctions && !options.flame { drawBrackets(into: &svg, layout: layout) }
        svg.close("g")
        drawPeaks(into: &svg, layout: layout)
        drawLegend(into: &svg, layout: layout, drawn: zip(reduced, reducedEnvelopes).flatMap { $0 + $1 })
    }

    private func drawPeaks(into svg: inout SVGWriter, layout: Layout) {
        let n = SVGWriter.number
        for series in series where series.isHeap {
            guard let peak = series.peak else { continue }
            let x = layout.time(peak.time), y = layout.memory(peak.mebibytes)
            svg.open("g", [("class", "heap-peak"), ("data-mebibytes", DecimalFormat.fixed(peak.mebibytes, decimals: 3)), ("data-t", String(peak.time))])
            svg.element("circle", [("cx", n(x)), ("cy", n(y)), ("r", "3.5"), ("fill", series.color)])
            let label = "heap peak \(DecimalFormat.fixed(peak.mebibytes, decimals: 1)) MiB"
            let width = TextWidth.of(label, fontSize: 11)
            let leftSide = x + 6 + width > layout.right
            svg.element(
                "text",
                [("x", n(leftSide ? x - 6 : x + 6)), ("y", n(min(layout.bottom - 4, y + 14))), ("fill", series.color),
                 ("text-anchor", leftSide ? "end" : "start"), ("font-size", "11"), ("class", "heap-peak-label")],
                content: label)
            svg.close("g")
        }
        for series in series where !series.isChild {
            guard let peak = series.peak else { continue }
            let x = layout.time(peak.time)
            let y = layout.memory(peak.mebibytes)
            let color = "#d62728"
            svg.open("g", [("class", "peak"), ("data-mebibytes", DecimalFormat.fixed(peak.mebibytes, decimals: 3)), ("data-true-peak", series.peakIsTrue ? "yes" : "no")])
            svg.element("line", [("class", "peak-time"), ("data-t", String(peak.time)), ("x1", n(x)), ("x2", n(x)), ("y1", n(layout.top)), ("y2", n(layout.bottom)), ("stroke", color), ("stroke-width", "1.2"), ("stroke-dasharray", "6 4")])
            svg.element("line", [("x1", n(layout.left)), ("x2", n(layout.right)), ("y1", n(y)), ("y2", n(y)), ("stroke", color), ("stroke-width", "0.8"), ("stroke-dasharray", "2 4"), ("stroke-opacity", "0.7")])
            let label = "peak \(DecimalFormat.fixed(peak.mebibytes, decimals: 1)) MiB" + (series.peakIsTrue ? " (kernel high-water mark)" : "")
            let width = TextWidth.of(label, fontSize: 12)
            let leftSide = x + 6 + width > layout.right
            svg.element(
                "text",
                [("x", n(leftSide ? x - 6 : x + 6)), ("y", n(max(layout.top + 14, y - 6))), ("fill", color),
                 ("text-anchor", leftSide ? "end" : "start"), ("class", "peak-label")],
                content: label)
            svg.close("g")
        }
    }

    /// The most bracket labels a plot gets; past that (or where a label finds no free place) brackets are drawn
    /// without one, and a note says how many.
    static let maximumCallLabels = 300

    private func drawBrackets(into svg: inout SVGWriter, layout: Layout) {
        let n = SVGWriter.number
        var labels = LabelPlacement(maximum: Self.maximumCallLabels)
        var unlabelled = 0
        for call in calls {
            let x0 = layout.time(call.start.time)
            let y0 = layout.memory(call.start.mebibytes)
            let x1 = layout.time(call.end.time)
            let y1 = layout.memory(call.end.mebibytes)
            svg.open("g", [("class", "call"), ("data-function", call.name), ("stroke", call.color), ("fill", "none"), ("stroke-width", "1.6")])
            svg.element("path", [("class", "bracket-start"), ("data-t", String(call.start.time)), ("data-m", String(call.start.mebibytes)), ("d", "M\(n(x0 + 5)) \(n(y0 - 7))H\(n(x0))V\(n(y0 + 7))H\(n(x0 + 5))")])
            svg.element("path", [("class", "bracket-end"), ("data-t", String(call.end.time)), ("data-m", String(call.end.mebibytes)), ("d", "M\(n(x1 - 5)) \(n(y1 - 7))H\(n(x1))V\(n(y1 + 7))H\(n(x1 - 5))")])
            let duration = call.end.time - call.start.time
            let label = "\(call.shortName) \(DecimalFormat.fixed(duration, decimals: 3))s"
            let width = TextWidth.of(label, fontSize: 11)
            // Labels of calls that start close together go one above the other instead of on top of each other.
            if let labelY = labels.place(x: x0 + 2, width: width, y: y0 - 11) {
                svg.element(
                    "text",
                    [("x", n(x0 + 2)), ("y", n(max(layout.top + 12, labelY))), ("fill", call.color), ("stroke", "none"), ("font-size", "11"), ("class", "call-label"), ("data-t", String(call.start.time))],
                    content: label)
            } else {
                svg.element("title", [], content: label)
                unlabelled += 1
            }
            svg.close("g")
        }
        if unlabelled > 0 {
            svg.element(
                "text",
                [("x", n(layout.right - 4)), ("y", n(layout.bottom - 6)), ("text-anchor", "end"), ("font-size", "11"),
                 ("fill", "#555555"), ("class", "note")],
                content: "\(unlabelled) of \(calls.count) calls unlabelled, where labels would not fit")
        }
    }

    private func drawFlame(into svg: inout SVGWriter, layout: Layout) {
        let n = SVGWriter.number
        let band = 18.0
        // Levels above the plot's top would be clipped away: not drawn at all.
        let visibleLevels = max(0, Int((layout.bottom - layout.top) / band))
        for call in calls where call.level < visibleLevels {
            let x0 = layout.time(call.start.time)
            let x1 = max(layout.time(call.end.time), x0 + 1)
            let y = layout.bottom - band * Double(call.level + 1)
            svg.open("g", [("class", "flame"), ("data-function", call.name), ("data-level", String(call.level))])
            svg.element(
                "rect",
                [("class", "flame-box"), ("data-t0", String(call.start.time)), ("data-t1", String(call.end.time)),
                 ("x", n(x0)), ("y", n(y)), ("width", n(x1 - x0)), ("height", n(band - 2)), ("fill", call.color),
                 ("fill-opacity", "0.45"), ("stroke", call.color), ("stroke-width", "0.8")],
                content: nil)
            let label = "\(call.shortName) \(DecimalFormat.fixed(call.end.time - call.start.time, decimals: 3))s"
            if TextWidth.of(label, fontSize: 11) < x1 - x0 - 6 {
                svg.element("text", [("x", n(x0 + 4)), ("y", n(y + band - 6)), ("font-size", "11"), ("fill", "#111111"), ("class", "flame-label"), ("data-t", String(call.start.time))], content: label)
            } else {
                svg.element("title", [], content: label)
            }
            svg.close("g")
        }
    }

    private func drawLegend(into svg: inout SVGWriter, layout: Layout, drawn: [Point]) {
        var entries: [ChartFrame.LegendEntry] = []
        for series in series {
            if series.isChild {
                entries.append(.init(color: series.color, text: series.label))
                continue
            }
            entries.append(.init(color: series.color, text: "\(series.label) (started \(Self.clockText(series.startWallClock)))"))
            if !series.envelope.isEmpty { entries.append(.init(color: "#d62728", text: "true peak (kernel high-water mark)", dashed: true)) }
            if let slope = series.slope {
                entries.append(
                    .init(color: series.color, text: "slope \(DecimalFormat.fixed(slope.mebibytesPerSecond, decimals: 3)) MiB/s", dashed: true))
            }
        }
        guard !entries.isEmpty else { return }
        let (width, height) = ChartFrame.legendSize(entries)
        let corner = legendCorner(width: width, height: height, layout: layout, drawn: drawn)
        layout.frame.drawLegend(entries, at: corner, into: &svg)
    }

    /// The corner of the plot area where the legend covers the fewest points (and the peak label least).
    private func legendCorner(width: Double, height: Double, layout: Layout, drawn: [Point]) -> (Double, Double) {
        let corners = [
            (layout.left + 10, layout.top + 10), (layout.right - 10 - width, layout.top + 10),
            (layout.right - 10 - width, layout.bottom - 10 - height), (layout.left + 10, layout.bottom - 10 - height),
        ]
        var points = drawn.map { (layout.time($0.time), layout.memory($0.mebibytes)) }
        for series in series {
            if let peak = series.peak {
                // The peak's label runs right of the peak: weigh it heavily.
                for offset in stride(from: 0.0, through: 240, by: 8) {
                    for _ in 0..<8 { points.append((layout.time(peak.time) + offset, layout.memory(peak.mebibytes) - 8)) }
                }
            }
        }
        if options.flame {
            // Per level, the stretches its boxes cover, merged: a point every 8 pixels of them, however many
            // calls there are.
            let visibleLevels = max(0, Int((layout.bottom - layout.top) / 18))
            var spans: [Int: [(Double, Double)]] = [:]
            for call in calls where call.level < visibleLevels {
                let start = max(layout.left, layout.time(call.start.time))
                let end = min(layout.right, layout.time(call.end.time))
                if start <= end { spans[call.level, default: []].append((start, end)) }
            }
            for (level, levelSpans) in spans {
                var covered = -Double.infinity
                for (start, end) in levelSpans.sorted(by: { $0.0 < $1.0 }) where end > covered {
                    for x in stride(from: max(start, covered), through: end, by: 8) {
                        points.append((x, layout.bottom - 18 * Double(level + 1) + 8))
                    }
                    covered = end + 8
                }
            }
        }
        func covered(_ corner: (Double, Double)) -> Int {
            points.reduce(0) { count, point in
                let inside = point.0 >= corner.0 && point.0 <= corner.0 + width && point.1 >= corner.1
                    && point.1 <= corner.1 + height
                return count + (inside ? 1 : 0)
            }
        }
        return corners.min { covered($0) < covered($1) } ?? corners[0]
    }

    static func polyline(_ points: [Point], _ layout: Layout) -> String {
        var text = ""
        text.reserveCapacity(points.count * 14)
        for point in points {
            if !text.isEmpty { text += " " }
            text += SVGWriter.number(layout.time(point.time))
            text += ","
            text += SVGWriter.number(layout.memory(point.mebibytes))
        }
        return text
    }

    /// `14:02:07` in local time.
    static func clockText(_ wallClock: Double) -> String {
        guard wallClock.isFinite, abs(wallClock) < 1e15 else { return "?" }
        var seconds = time_t(wallClock)
        var parts = tm()
        localtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
    }
}


/// Where bracket labels go: each at its call's start, or up to a few lines above it when that is taken.
///
/// Placed labels are kept in 64-pixel columns, so a new label is checked against its neighbours only.
///
/// - Complexity: O(1) per label for a given picture size: at most ``maximum`` labels are placed, and a column
///   holds only as many as fit in it without overlapping.
struct LabelPlacement {
    private struct Placed {
        var x0: Double
        var x1: Double
        var y: Double
    }

    let maximum: Int
    private(set) var count = 0
    private var columns: [Int: [Placed]] = [:]
    private static let columnWidth = 64.0
    private static let lineHeight = 13.0
    private static let linesUp = 6

    init(maximum: Int) {
        self.maximum = maximum
    }

    /// Places a label `width` wide at `x`, at height `y` or a few lines above it.
    ///
    /// - Returns: The label's height, or nil when there is no free place or ``maximum`` labels are placed.
    mutating func place(x: Double, width: Double, y: Double) -> Double? {
        guard count < maximum, x.isFinite, y.isFinite, width.isFinite else { return nil }
        let first = LinearScale.pixel((x / Self.columnWidth).rounded(.down))
        let last = max(first, LinearScale.pixel(((x + width) / Self.columnWidth).rounded(.down)))
        guard last - first < 64 else { return nil }
        for step in 0..<Self.linesUp {
            let candidate = y - Self.lineHeight * Double(step)
            let taken = (first...last).contains { column in
                columns[column, default: []].contains { placed in
                    placed.x0 < x + width && x < placed.x1 && abs(placed.y - candidate) < Self.lineHeight
                }
            }
            if !taken {
                for column in first...last { columns[column, default: []].append(Placed(x0: x, x1: x + width, y: candidate)) }
                count += 1
                return candidate
            }
        }
        return nil
    }
}
