import MemoryProfiler
import MemoryProfilerSystem

/// A process's resident memory as one bar split into its parts (`mprof explain -o`), widths in proportion to
/// their bytes, with a legend of each part's bytes, share and meaning.
public struct BreakdownChart: Sendable {
    public var title: String
    public var breakdown: MemoryBreakdown
    public var width: Double

    public init(title: String, breakdown: MemoryBreakdown, width: Double = 960) {
        self.title = title
        self.breakdown = breakdown
        self.width = width
    }

    /// A colour per part, the same in every chart.
    static func color(of category: MemoryBreakdown.Category) -> String {
        switch category {
        case .mallocHeap: "#d62728"
        case .otherAnonymous: "#ff7f0e"
        case .threadStacks: "#9467bd"
        case .code: "#1f77b4"
        case .mappedFiles: "#2ca02c"
        case .sharedMemory: "#17becf"
        case .kernel: "#7f7f7f"
        }
    }

    /// The chart as an SVG document: a group of class `part` per part with `data-part`, `data-bytes` and
    /// `data-share` (percent), its rectangle's width in proportion.
    public func svg() -> String {
        let n = SVGWriter.number
        let parts = breakdown.parts.filter { $0.resident.bytes > 0 }
        let total = max(breakdown.resident.bytes, 1)
        let left = 24.0, right = width - 24, barTop = 56.0, barHeight = 40.0
        let legendTop = barTop + barHeight + 28, row = 22.0
        let height = legendTop + row * Double(parts.count) + 24
        var svg = SVGWriter(width: width, height: height, attributes: [("data-total", String(breakdown.resident.bytes))])
        svg.element("rect", [("x", "0"), ("y", "0"), ("width", n(width)), ("height", n(height)), ("fill", "#ffffff")])
        svg.element(
            "text", [("x", n(width / 2)), ("y", "26"), ("text-anchor", "middle"), ("font-size", "15"), ("class", "title")],
            content: title)
        svg.element(
            "text", [("x", n(width / 2)), ("y", "44"), ("text-anchor", "middle"), ("font-size", "12"), ("fill", "#555")],
            content: "\(MemorySize(bytes: breakdown.resident.bytes).formatted(precision: 1)) resident, \(breakdown.threads) thread\(breakdown.threads == 1 ? "" : "s")")
        var x = left
        for (index, part) in parts.enumerated() {
            let share = Double(part.resident.bytes) / Double(total)
            let barWidth = (right - left) * share
            svg.open("g", [
                ("class", "part"), ("data-part", part.category.rawValue), ("data-bytes", String(part.resident.bytes)),
                ("data-share", n(share * 100)),
            ])
            svg.element("title", [], content: "\(part.category.title): \(MemorySize(bytes: part.resident.bytes).formatted(precision: 1))")
            svg.element(
                "rect", [("x", n(x)), ("y", n(barTop)), ("width", n(max(barWidth, 0.5))), ("height", n(barHeight)),
                         ("fill", Self.color(of: part.category))])
            if barWidth > 60 {
                svg.element(
                    "text", [("x", n(x + 4)), ("y", n(barTop + barHeight / 2 + 4)), ("font-size", "11"), ("fill", "#ffffff")],
                    content: part.category.title)
            }
            svg.close("g")
            let y = legendTop + row * Double(index)
            svg.element("rect", [("x", n(left)), ("y", n(y - 11)), ("width", "12"), ("height", "12"), ("fill", Self.color(of: part.category))])
            svg.element(
                "text", [("x", n(left + 18)), ("y", n(y)), ("font-size", "12")],
                content: "\(part.category.title): \(MemorySize(bytes: part.resident.bytes).formatted(precision: 1)) "
                    + "(\(DecimalFormat.fixed(share * 100, decimals: 1))%) — \(part.category.meaning)")
            x += barWidth
        }
        return svg.finish()
    }
}
