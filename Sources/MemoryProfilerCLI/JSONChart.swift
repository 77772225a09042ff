import FoundationEssentials
import MemoryPlot
import MemoryProfiler
import MemoryProfilerSystem

/// The other data `mprof plot` draws: memory against input size (`memory-scaling --json`, one object a line)
/// and what readers cost (`mprof readers --bench --format json`).
///
/// Every number is checked before anything is drawn: it must be a JSON number (`true` is not 1), finite and in
/// range, or the chart is refused with an error naming the file and the entry. A chart with nothing to draw is
/// an error too.
enum JSONChart {
    /// The biggest JSON file read: charts come from a few hundred lines.
    static let maximumBytes = 64 << 20
    /// The most bars drawn: each is a row of the picture.
    static let maximumBars = 1000
    /// The longest reader name drawn as a bar's label.
    static let maximumLabelLength = 40
    /// What one reading may cost, in microseconds: a nanosecond to a quarter of an hour.
    static let costRange = 1e-3...1e9
    /// Input sizes drawn: whole or not, from 0 to 10^15.
    static let inputSizeRange = 0.0...1e15
    /// Bytes of memory, as `.dat` files allow: up to 2^60 (2^40 MiB).
    static let byteRange = 0.0...0x1p60

    /// The chart's SVG of the JSON that `reader` reads.
    static func load(_ reader: FileReader, title: String?) throws -> String {
        let path = TerminalText.escaped(reader.path)
        let data: Data
        do {
            data = Data(try reader.readAll(limit: maximumBytes))
        } catch {
            throw CLIError("\(path): \(error.message)")
        }
        // A readers report is one JSON object with a "readings" key; memory-scaling writes one object a line.
        struct Kind: Decodable { var readings: DiscardedValue? }
        if let kind = try? JSONDecoder().decode(Kind.self, from: data), kind.readings != nil {
            return try readersChart(data, path: path, title: title)
        }
        return try scalingChart(data, path: path, title: title)
    }

    /// `mprof readers --bench --format json`, as far as the chart reads it.
    private struct ReadersReport: Decodable {
        struct Reading: Decodable {
            struct Cost: Decodable {
                var medianMicrosecondsPerReading: Double
            }

            var reader: String
            var error: String?
            var cost: Cost?
        }

        var pid: Double?
        var readings: [Reading]
    }

    private static func readersChart(_ data: Data, path: String, title: String?) throws -> String {
        let report: ReadersReport
        do {
            report = try JSONDecoder().decode(ReadersReport.self, from: data)
        } catch let error as DecodingError {
            throw CLIError("\(path): \(describe(error, whole: "the file")) (mprof readers --bench --format json makes this file)")
        }
        if let pid = report.pid, !(pid >= 1 && pid <= Double(Int32.max) && pid == pid.rounded()) {
            throw CLIError("\(path): pid is \(number(pid)); a PID is a whole number from 1 to \(Int32.max)")
        }
        var bars: [(label: String, value: Double)] = []
        for (index, reading) in report.readings.enumerated() {
            let entry = "readings[\(index)] (\(TerminalText.quoted(reading.reader)))"
            guard !reading.reader.isEmpty, reading.reader.count <= maximumLabelLength else {
                throw CLIError("\(path): readings[\(index)].reader must be a name of 1 to \(maximumLabelLength) characters")
            }
            guard let cost = reading.cost else {
                guard let failure = reading.error else {
                    throw CLIError("\(path): \(entry) has no cost: make the file with mprof readers --bench --format json")
                }
                StandardError.write("mprof: \(path): \(entry) is left out: it could not read (\(TerminalText.quoted(failure, limit: 200)))")
                continue
            }
            let value = cost.medianMicrosecondsPerReading
            guard costRange.contains(value) else {
                throw CLIError(
                    "\(path): \(entry) costs \(number(value)) µs a reading (cost.medianMicrosecondsPerReading); "
                        + "a cost is from 0.001 to 1e9 µs")
            }
            bars.append((reading.reader, value))
        }
        guard !bars.isEmpty else {
            throw CLIError("\(path) has no reading with a cost to draw: make it with mprof readers --bench --format json")
        }
        guard bars.count <= maximumBars else {
            throw CLIError("\(path) has \(bars.count) readings; a chart draws at most \(maximumBars)")
        }
        let pid = report.pid.map { " of PID \(number($0))" } ?? ""
        return BarChart(title: title ?? "What one reading costs\(pid)", unit: "µs", bars: bars).svg()
    }

    /// One line of `memory-scaling --json`, as far as the chart reads it (sizes in bytes).
    private struct ScalingLine: Decodable {
        var size: Double
        var peak: Double
        var increment: Double
    }

    private static func scalingChart(_ data: Data, path: String, title: String?) throws -> String {
        var points: [ScalingChart.Point] = []
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() {
            guard line.contains(where: { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0D) }) else { continue }
            let place = "\(path):\(index + 1)"
            let value: ScalingLine
            do {
                value = try JSONDecoder().decode(ScalingLine.self, from: Data(line))
            } catch let error as DecodingError {
                throw CLIError(
                    "\(place): not a line of memory-scaling --json ({\"size\":…,\"peak\":…,\"increment\":…}) "
                        + "nor mprof readers --bench --format json: \(describe(error, whole: "the line"))")
            }
            for (name, given, range, rangeText) in [
                ("size", value.size, inputSizeRange, "from 0 to 1e15"), ("peak", value.peak, byteRange, "from 0 to 2^60 bytes"),
                ("increment", value.increment, byteRange, "from 0 to 2^60 bytes"),
            ] where !range.contains(given) {
                throw CLIError("\(place): \(name) is \(number(given)); it must be \(rangeText)")
            }
            points.append(
                ScalingChart.Point(
                    inputSize: value.size, incrementMebibytes: value.increment / 1_048_576,
                    peakMebibytes: value.peak / 1_048_576))
        }
        guard !points.isEmpty else { throw CLIError("\(path) has no data points") }
        return ScalingChart(title: title ?? "Memory against input size", points: points).svg()
    }

    /// `5`, `-1`, `0.25`, `1e+300`: a number as an error message quotes it.
    private static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }

    /// What is wrong where, in the file's terms: `readings[2].cost.medianMicrosecondsPerReading must be a
    /// number, not bool`.
    private static func describe(_ error: DecodingError, whole: String) -> String {
        func place(_ path: [any CodingKey]) -> String {
            var text = ""
            for key in path {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += (text.isEmpty ? "" : ".") + TerminalText.escaped(key.stringValue)
                }
            }
            return text.isEmpty ? whole : text
        }
        func kind(_ type: Any.Type) -> String {
            if type == Double.self { return "a number" }
            if type == String.self { return "a string" }
            return String(describing: type).hasPrefix("Array") ? "an array" : "an object"
        }
        switch error {
        case .typeMismatch(let type, let context):
            // "Expected to decode Double but found bool instead." → "bool".
            let description = context.debugDescription
            var found = description.split(separator: "found ", maxSplits: 1).dropFirst().first.map(String.init)
                ?? "something else"
            if found.hasSuffix(" instead.") { found.removeLast(" instead.".count) }
            return "\(place(context.codingPath)) must be \(kind(type)), not \(TerminalText.quoted(found))"
        case .valueNotFound(let type, let context):
            return "\(place(context.codingPath)) must be \(kind(type)), not null"
        case .keyNotFound(let key, let context):
            return "\(place(context.codingPath + [key])) is missing"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "not valid JSON (a number beyond ±1.8e308 is not valid either)" }
            return "\(place(context.codingPath)): \(TerminalText.quoted(context.debugDescription, limit: 200))"
        @unknown default:
            return TerminalText.quoted("\(error)", limit: 200)
        }
    }
}

/// Any JSON value, decoded only to learn that it is there.
private struct DiscardedValue: Decodable {
    init(from decoder: any Decoder) throws {}
}
