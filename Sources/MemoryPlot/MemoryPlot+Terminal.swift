import MemoryProfiler
import MemoryProfilerSystem

extension MemoryPlot {
    /// The most function calls the terminal plot lists, one line each; a note counts the rest.
    public static let maximumTerminalCalls = 20

    /// The plot drawn with braille characters (2×4 dots a cell): the curve of the first file, its peak, the time
    /// axis, and the function calls (the first ``maximumTerminalCalls`` of them) as spans below it.
    ///
    /// Text from the files (the title, function names, labels) is printed with control characters escaped, so
    /// a file cannot send escape sequences to the terminal.
    ///
    /// - Parameters:
    ///   - columns: The terminal's width in characters, clamped to 20…2000.
    ///   - rows: The height of the drawing area in lines, clamped to 2…200.
    ///   - color: Use ANSI colours (only on a terminal, never when `NO_COLOR` is non-empty nor with `TERM=dumb`:
    ///     the caller decides).
    public func terminal(columns: Int, rows: Int = 18, color: Bool = false) -> String {
        let columns = min(max(columns, 20), 2000)
        let rows = min(max(rows, 2), 200)
        let style = TerminalStyle(color: color)
        var canvas = BrailleCanvas(width: max(10, columns - TerminalStyle.labelWidth - 2), rows: rows)
        let time = LinearScale(domain: timeDomain, range: 0...Double(canvas.dotsWide - 1))
        let memory = LinearScale(domain: memoryDomain, range: 0...Double(canvas.dotsHigh - 1), inverted: true)
        for (index, series) in series.enumerated() {
            canvas.drawLine(through: Self.reduced(series.points, scale: time), series: index, time: time, memory: memory)
        }

        let escapedTitle = TerminalText.escaped(title, keepingBackslashes: true)
        let title = escapedTitle.count > columns ? escapedTitle.prefix(columns - 1) + "…" : escapedTitle
        var output = style.bold(String(title)) + "\n"
        output += terminalRows(canvas, memory: memory, style: style)
        output += terminalTimeAxis(width: canvas.width)
        output += terminalCalls(width: canvas.width, time: time, style: style)
        output += terminalSummary(style: style)
        return output
    }

    /// The drawing, row by row, with memory labels on the left (the peak's row in red).
    private func terminalRows(_ canvas: BrailleCanvas, memory: LinearScale, style: TerminalStyle) -> String {
        var output = ""
        let rows = canvas.rows
        let peak = series.first { !$0.isChild }?.peak
        let peakRow = peak.map { LinearScale.pixel(memory($0.mebibytes).rounded()) / 4 }
        for row in 0..<rows {
            let value = row == 0 ? memoryDomain.upperBound
                : row == rows - 1 ? memoryDomain.lowerBound : memory.value(at: Double(row * 4) + 1.5)
            var label = ""
            if row == 0 || row == rows - 1 || row == rows / 2 || row == peakRow {
                label = DecimalFormat.fixed(row == peakRow ? peak?.mebibytes ?? value : value, decimals: value >= 100 ? 0 : 1)
            }
            label = String(repeating: " ", count: max(0, TerminalStyle.labelWidth - 1 - label.count)) + label
            if row == peakRow { label = style.red(label) }
            output += label + " ┤"
            for column in 0..<canvas.width {
                let bits = canvas.cells[row][column]
                let character = bits == 0 ? " " : String(Character(Unicode.Scalar(0x2800 + UInt32(bits)) ?? " "))
                output += bits == 0 ? character : style.series(canvas.cellSeries[row][column], character)
            }
            output += "\n"
        }
        return output
    }

    /// The time axis: a rule and the times at its ends, with as many decimals as the window needs.
    private func terminalTimeAxis(width: Int) -> String {
        let labelWidth = TerminalStyle.labelWidth
        var output = String(repeating: " ", count: labelWidth) + "└" + String(repeating: "─", count: width) + "\n"
        // At least one decimal, and as many as a narrow window needs to tell its ends apart.
        let step = LinearScale.niceStep(span: timeDomain.upperBound - timeDomain.lowerBound, count: 10)
        let decimals = max(1, LinearScale.decimals(forStep: step))
        let start = DecimalFormat.fixed(timeDomain.lowerBound, decimals: decimals) + " s"
        let end = DecimalFormat.fixed(timeDomain.upperBound, decimals: decimals) + " s"
        output += String(repeating: " ", count: labelWidth + 1) + start
            + String(repeating: " ", count: max(1, width - start.count - end.count)) + end + "\n"
        return output
    }

    /// The calls of the outer two levels as spans under the time axis, and how many were left out.
    private func terminalCalls(width: Int, time: LinearScale, style: TerminalStyle) -> String {
        var output = ""
        let shownCalls = calls.lazy.filter { $0.level <= 1 }
        for call in shownCalls.prefix(Self.maximumTerminalCalls) {
            let x0 = min(max(0, LinearScale.pixel(time(call.start.time)) / 2), width - 1)
            let x1 = min(max(x0 + 1, LinearScale.pixel(time(call.end.time)) / 2), width)
            let name = "\(TerminalText.escaped(call.shortName, keepingBackslashes: true)) "
                + "\(DecimalFormat.fixed(call.end.time - call.start.time, decimals: 2))s"
            var span = Array(String(repeating: "─", count: max(0, x1 - x0 - 1)))
            for (index, character) in name.enumerated() where index + 1 < span.count { span[index + 1] = character }
            let line = String(repeating: " ", count: TerminalStyle.labelWidth + 1 + x0) + "├" + String(span) + "┤"
            output += style.series(call.level + 2, line) + "\n"
        }
        let hiddenCalls = shownCalls.count - Self.maximumTerminalCalls
        if hiddenCalls > 0 {
            output += "… and \(hiddenCalls) more calls (mprof plot -o plot.html shows them all)\n"
        }
        return output
    }

    /// Each main series' peak and slope, and a legend when there is more than one series.
    private func terminalSummary(style: TerminalStyle) -> String {
        var output = ""
        for series in series where series.isHeap {
            if let peak = series.peak {
                output += "heap peak \(DecimalFormat.fixed(peak.mebibytes, decimals: 1)) MiB at \(DecimalFormat.fixed(peak.time, decimals: 2)) s\n"
            }
        }
        for series in series where !series.isChild {
            if let peak = series.peak {
                let text = "peak \(DecimalFormat.fixed(peak.mebibytes, decimals: 1)) MiB at \(DecimalFormat.fixed(peak.time, decimals: 2)) s"
                    + (series.peakIsTrue ? " (kernel high-water mark)" : "")
                output += style.red(text) + "\n"
            }
            if let slope = series.slope {
                output += "slope \(DecimalFormat.fixed(slope.mebibytesPerSecond, decimals: 3)) MiB/s\n"
            }
        }
        if series.count > 1 {
            for (index, series) in series.enumerated() {
                output += "\(style.series(index, "⣿")) \(TerminalText.escaped(series.label, keepingBackslashes: true))\n"
            }
        }
        return output
    }
}

/// ANSI colours for the terminal plot, or none.
private struct TerminalStyle {
    /// The width of the memory labels left of the drawing.
    static let labelWidth = 9
    static let colors = ["\u{1B}[36m", "\u{1B}[33m", "\u{1B}[32m", "\u{1B}[35m", "\u{1B}[34m", "\u{1B}[31m"]
    static let reset = "\u{1B}[0m"

    let color: Bool

    func bold(_ text: String) -> String { color ? "\u{1B}[1m\(text)\(Self.reset)" : text }
    func red(_ text: String) -> String { color ? "\u{1B}[31m\(text)\(Self.reset)" : text }
    /// `text` in the colour of series (or call level) `index`.
    func series(_ index: Int, _ text: String) -> String {
        color ? Self.colors[max(0, index) % Self.colors.count] + text + Self.reset : text
    }
}

/// A drawing in braille characters, 2×4 dots a cell, remembering which series drew each cell first.
private struct BrailleCanvas {
    let width: Int
    let rows: Int
    var dotsWide: Int { width * 2 }
    var dotsHigh: Int { rows * 4 }
    private(set) var cells: [[UInt8]]
    private(set) var cellSeries: [[Int]]

    init(width: Int, rows: Int) {
        self.width = width
        self.rows = rows
        cells = [[UInt8]](repeating: [UInt8](repeating: 0, count: width), count: rows)
        cellSeries = [[Int]](repeating: [Int](repeating: -1, count: width), count: rows)
    }

    private mutating func plot(_ x: Int, _ y: Int, series: Int) {
        guard x >= 0, x < dotsWide, y >= 0, y < dotsHigh else { return }
        let bits: [[UInt8]] = [[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]]
        cells[y / 4][x / 2] |= bits[y % 4][x % 2]
        if cellSeries[y / 4][x / 2] < 0 { cellSeries[y / 4][x / 2] = series }
    }

    /// Draws the points joined by straight lines, so that steep steps stay connected.
    mutating func drawLine(
        through points: [MemoryPlot.Point], series: Int, time: LinearScale, memory: LinearScale
    ) {
        var previous: (Int, Int)?
        for point in points {
            // Clamped near the drawing, so that a line to a point far outside stays a short loop.
            let x = min(max(LinearScale.pixel(time(point.time).rounded()), -dotsWide), 2 * dotsWide)
            let y = min(max(LinearScale.pixel(memory(point.mebibytes).rounded()), -dotsHigh), 2 * dotsHigh)
            if let (x0, y0) = previous {
                let steps = max(abs(x - x0), abs(y - y0), 1)
                for step in 0...steps {
                    plot(x0 + (x - x0) * step / steps, y0 + (y - y0) * step / steps, series: series)
                }
            } else {
                plot(x, y, series: series)
            }
            previous = (x, y)
        }
    }
}
