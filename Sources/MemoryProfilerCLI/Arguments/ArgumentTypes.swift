import ArgumentParser
import MemoryPlot
import MemoryProfiler
import MemoryReports
import MemoryProfilerSystem

/// A decimal number as people write it on a command line: `0.1`, `5`, `.5`, `1e-3`, `-2`. Hex floats, `nan`,
/// `inf`, digit separators and other scripts' digits are not numbers here (Swift's `Double(_:)` takes some of
/// them); whatever passes is finite.
enum DecimalArgument {
    static func parse(_ text: some StringProtocol) -> Double? {
        var bytes = Array(text.utf8)[...]
        if bytes.first == UInt8(ascii: "+") || bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        let digits = bytes.prefix { isDigit($0) }
        bytes = bytes.dropFirst(digits.count)
        var fraction = 0
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            fraction = bytes.prefix { isDigit($0) }.count
            bytes = bytes.dropFirst(fraction)
        }
        guard digits.count + fraction > 0 else { return nil }
        if bytes.first == UInt8(ascii: "e") || bytes.first == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if bytes.first == UInt8(ascii: "+") || bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
            let exponent = bytes.prefix { isDigit($0) }.count
            guard exponent > 0 else { return nil }
            bytes = bytes.dropFirst(exponent)
        }
        guard bytes.isEmpty, let value = Double(String(text)), value.isFinite else { return nil }
        return value
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }
}

/// A number of seconds for `-T` and `-t`: a plain decimal; the commands check the range they accept.
struct Seconds: ExpressibleByArgument, Hashable, Sendable {
    var value: Double

    init(_ value: Double) {
        self.value = value
    }

    init?(argument: String) {
        guard let value = DecimalArgument.parse(argument) else { return nil }
        self.value = value
    }

    var defaultValueDescription: String { Self.text(value) }

    var duration: Duration { .nanoseconds(Int64((value * 1e9).rounded())) }

    /// `5`, `0.25`: as memory_profiler prints its interval.
    static func text(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}

/// `--size WIDTHxHEIGHT` of `mprof plot`, in pixels.
struct PictureSize: Hashable, Sendable {
    static let widths = 200.0...20_000
    static let heights = 150.0...20_000

    var width: Double
    var height: Double

    /// Reads `960x540`.
    ///
    /// - Throws: `ValidationError` saying what a size must be.
    static func parse(_ text: String) throws -> PictureSize {
        let parts = text.split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let width = DecimalArgument.parse(parts[0]), let height = DecimalArgument.parse(parts[1]),
            widths.contains(width), heights.contains(height)
        else {
            throw ValidationError(
                "--size must be WIDTHxHEIGHT in pixels, at least 200x150 and at most 20000x20000, not "
                    + TerminalText.quoted(text))
        }
        return PictureSize(width: width, height: height)
    }
}

/// `--window START,END` of `mprof plot`, in seconds from the start of the recording.
struct TimeWindow: Hashable, Sendable {
    /// Far beyond any recording, and where doubles still tell microseconds apart.
    static let limit = 1e11
    /// Narrower windows cannot be labelled.
    static let minimumWidth = MemoryPlot.minimumWindow

    var range: ClosedRange<Double>

    /// Reads `START,END`.
    ///
    /// - Throws: `ValidationError` saying what a window must be.
    static func parse(_ text: String) throws -> TimeWindow {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map {
            String($0.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
        }
        guard parts.count == 2, let start = DecimalArgument.parse(parts[0]), let end = DecimalArgument.parse(parts[1]),
            start < end
        else {
            throw ValidationError("--window must be START,END in seconds with START < END, not \(TerminalText.quoted(text))")
        }
        guard abs(start) <= limit, abs(end) <= limit else {
            throw ValidationError("--window must lie within ±1e11 seconds, not \(TerminalText.quoted(text))")
        }
        guard end - start >= minimumWidth else {
            throw ValidationError("--window must be at least 1 µs (0.000001 s) wide, not \(TerminalText.quoted(text))")
        }
        return TimeWindow(range: start...end)
    }
}

/// `--fail-above`: a share (`5%`) or an amount of bytes (`10MiB`, `512KiB`, `4096`), or allocations for a counted view.
struct GrowthLimit: ExpressibleByArgument, Sendable {
    let limit: HeapDiffReport.Limit
    /// As given.
    let text: String

    init?(argument: String) {
        text = argument
        if argument.hasSuffix("%") {
            guard let value = Double(argument.dropLast()), value.isFinite, value >= 0, value <= 1e6 else { return nil }
            limit = .share(value / 100)
            return
        }
        let units: [(String, Double)] = [("GiB", 1_073_741_824), ("MiB", 1_048_576), ("KiB", 1024), ("B", 1), ("", 1)]
        guard let (unit, scale) = units.first(where: { argument.hasSuffix($0.0) }),
            let value = Double(argument.dropLast(unit.count)), value.isFinite, value >= 0, value * scale <= 1e18
        else { return nil }
        limit = .amount(Int(value * scale))
    }
}

extension HeapReport.Section: ExpressibleByArgument {}
extension HeapProfile.View: ExpressibleByArgument {}
extension HeapProfile.Moment: ExpressibleByArgument {}
extension HeapFlameGraph.Orientation: ExpressibleByArgument {}
