import FoundationEssentials
import MemoryPlot
import MemoryProfiler
import MemoryProfilerSystem

/// The other data `mprof plot` draws: memory against input size (`memory-scaling --json`: a
/// `MemoryScalingPoint` a line) and what readers cost (`mprof readers --bench --format json`: a ``ReadersReport``).
///
/// Each file is decoded as the type its producer encodes, then every number is checked before anything is drawn:
/// it must be a JSON number (`true` is not 1), finite and in range, or the chart is refused with an error naming
/// the file and the entry. A chart with nothing to draw is an error too.
enum JSONChart {
    /// The biggest JSON file read: charts come from a few hundred lines.
    static let maximumBytes = 64 << 20
    /// The most bars drawn: each is a row of the picture.
    static let maximumBars = 1000
    /// What one reading may cost, in microseconds: a nanosecond to a quarter of an hour.
    static let costRange = 1e-3...1e9
    /// The time of one timed run, in seconds: at most 10^7 readings at the highest cost.
    static let runSecondsRange = 0.0...1e10
    /// Input sizes drawn: from 0 to 10^15.
    static let inputSizeRange = 0...1_000_000_000_000_000
    /// Bytes of memory, as `.dat` files allow: up to 2^60 (2^40 MiB).
    static let byteRange = 0...(1 << 60)
    /// The same in MiB.
    static let mebibyteRange = 0.0...0x1p40
    /// How long one run at one input size may have taken: up to about 30 years.
    static let runDurationRange = Duration.zero...Duration.seconds(1_000_000_000)

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

    private static func readersChart(_ data: Data, path: String, title: String?) throws -> String {
        let report: ReadersReport
        do {
            report = try JSONDecoder().decode(ReadersReport.self, from: data)
        } catch let error as DecodingError {
            var text = describe(
                error, in: data, whole: "the file",
                wholeNumberLimits: ["pid": 0x1p31, "bytes": 0x1p63, "count": 0x1p63, "repeats": 0x1p63])
            if case .dataCorrupted(let context) = error, context.codingPath.last?.stringValue == "reader" {
                text += "; the readers are \(MemoryReader.allCases.map(\.rawValue).joined(separator: ", "))"
            }
            throw CLIError("\(path): \(text) (mprof readers --bench --format json makes this file)")
        }
        guard report.pid.rawValue >= 1 else {
            throw CLIError("\(path): pid is \(report.pid); a PID is a whole number from 1 to \(Int32.max)")
        }
        guard report.readings.count <= maximumBars else {
            throw CLIError("\(path) has \(report.readings.count) readings; a chart draws at most \(maximumBars)")
        }
        var bars: [(label: String, value: Double)] = []
        for (index, reading) in report.readings.enumerated() {
            let entry = "readings[\(index)] (\(reading.reader.rawValue))"
            if let bytes = reading.bytes, !byteRange.contains(bytes) {
                throw CLIError("\(path): \(entry) read \(bytes) bytes; it must be from 0 to 2^60")
            }
            if let mebibytes = reading.mebibytes, !mebibyteRange.contains(mebibytes) {
                throw CLIError("\(path): \(entry) read \(number(mebibytes)) MiB; it must be from 0 to 2^40")
            }
            guard let cost = reading.cost else {
                guard let failure = reading.error else {
                    throw CLIError("\(path): \(entry) has no cost: make the file with mprof readers --bench --format json")
                }
                StandardError.write("mprof: \(path): \(entry) is left out: it could not read (\(TerminalText.quoted(failure, limit: 200)))")
                continue
            }
            try check(cost, of: "\(path): \(entry)")
            bars.append((reading.reader.rawValue, cost.medianMicrosecondsPerReading))
        }
        guard !bars.isEmpty else {
            throw CLIError("\(path) has no reading with a cost to draw: make it with mprof readers --bench --format json")
        }
        return BarChart(title: title ?? "What one reading costs of PID \(report.pid)", unit: "µs", bars: bars).svg()
    }

    /// Checks what `mprof readers --bench` could have measured: counts it allows, run times in order.
    private static func check(_ cost: ReadersReport.Cost, of entry: String) throws {
        let counts = ReadersReport.Cost.counts, repeats = ReadersReport.Cost.repeatsAllowed
        guard counts.contains(cost.count) else {
            throw CLIError("\(entry): cost.count is \(cost.count); it must be from \(counts.lowerBound) to \(counts.upperBound)")
        }
        guard repeats.contains(cost.repeats) else {
            throw CLIError(
                "\(entry): cost.repeats is \(cost.repeats); it must be from \(repeats.lowerBound) to \(repeats.upperBound)")
        }
        for (name, seconds) in [
            ("minimumSeconds", cost.minimumSeconds), ("medianSeconds", cost.medianSeconds), ("maximumSeconds", cost.maximumSeconds),
        ] where !runSecondsRange.contains(seconds) {
            throw CLIError("\(entry): cost.\(name) is \(number(seconds)); it must be from 0 to 1e10 seconds")
        }
        guard cost.minimumSeconds <= cost.medianSeconds, cost.medianSeconds <= cost.maximumSeconds else {
            throw CLIError("\(entry): cost.medianSeconds must lie from cost.minimumSeconds to cost.maximumSeconds")
        }
        let value = cost.medianMicrosecondsPerReading
        guard costRange.contains(value) else {
            throw CLIError(
                "\(entry) costs \(number(value)) µs a reading (cost.medianSeconds / cost.count); a cost is from 0.001 to 1e9 µs")
        }
    }

    /// Where the integer types of `MemoryScalingPoint`'s fields end: `Int`, and a `Duration` as a pair of `Int64`
    /// and `UInt64` (the larger is taken for both).
    private static let scalingWholeNumberLimits = ["inputSize": 0x1p63, "baseline": 0x1p63, "peak": 0x1p63, "duration": 0x1p64]

    private static func scalingChart(_ data: Data, path: String, title: String?) throws -> String {
        var points: [ScalingChart.Point] = []
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() {
            guard line.contains(where: { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0D) }) else { continue }
            let place = "\(path):\(index + 1)"
            let point: MemoryScalingPoint
            do {
                point = try JSONDecoder().decode(MemoryScalingPoint.self, from: Data(line))
            } catch let error as DecodingError {
                // Before it encoded MemoryScalingPoint, the example wrote numbers under keys of its own, and no
                // duration.
                if let old = try? JSONDecoder().decode([String: Double].self, from: Data(line)),
                    ["size", "peak", "increment"].allSatisfy({ old[$0] != nil }), old["inputSize"] == nil
                {
                    throw CLIError(
                        "\(place): a line of an older memory-scaling --json, with \"size\" and no \"duration\"; "
                            + "run memory-scaling --json again to write the points as mprof plot reads them")
                }
                let text = describe(error, in: Data(line), whole: "the line", wholeNumberLimits: scalingWholeNumberLimits)
                throw CLIError(
                    "\(place): not a line of memory-scaling --json "
                        + "({\"inputSize\":…,\"baseline\":…,\"peak\":…,\"duration\":[…]}) "
                        + "nor mprof readers --bench --format json: \(text)")
            }
            guard inputSizeRange.contains(point.inputSize) else {
                throw CLIError("\(place): inputSize is \(point.inputSize); it must be from 0 to 1e15")
            }
            for (name, size) in [("baseline", point.baseline), ("peak", point.peak)] where !byteRange.contains(size.bytes) {
                throw CLIError("\(place): \(name) is \(size.bytes); it must be from 0 to 2^60 bytes")
            }
            guard point.peak >= point.baseline else {
                throw CLIError(
                    "\(place): peak (\(point.peak.bytes)) is below baseline (\(point.baseline.bytes)); a peak is at least its baseline")
            }
            guard runDurationRange.contains(point.duration) else {
                throw CLIError("\(place): duration is \(point.duration); it must be from 0 to 1e9 seconds")
            }
            points.append(ScalingChart.Point(point))
        }
        guard !points.isEmpty else { throw CLIError("\(path) has no data points") }
        return ScalingChart(title: title ?? "Memory against input size", points: points).svg()
    }

    /// `5`, `-1`, `0.25`, `1e+300`: a number as an error message quotes it.
    private static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }

    /// What is wrong where, in the file's terms: `readings[2].cost.medianSeconds must be a number, not bool`.
    ///
    /// `wholeNumberLimits` names the whole-number fields of `json` and where their integer types end.
    private static func describe(
        _ error: DecodingError, in json: Data, whole: String, wholeNumberLimits: [String: Double]
    ) -> String {
        func place(_ path: [any CodingKey]) -> String {
            let text = Self.place(path.map { $0.intValue.map(JSONPathElement.index) ?? .key($0.stringValue) })
            return text.isEmpty ? whole : text
        }
        func kind(_ type: Any.Type) -> String {
            if type == Double.self { return "a number" }
            let wholeNumbers: [Any.Type] = [Int.self, Int32.self, Int64.self, UInt64.self]
            if wholeNumbers.contains(where: { $0 == type }) { return "a whole number" }
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
            // JSONDecoder says the same of a number that its whole-number field cannot hold, with no place.
            if context.codingPath.isEmpty, let json = try? JSONDecoder().decode(JSONValue.self, from: json) {
                if let misfit = json.firstMisfit(limits: wholeNumberLimits) {
                    let name = misfit.path.isEmpty ? whole : Self.place(misfit.path)
                    return "\(name) is \(number(misfit.value)); it must be a whole number below 2^\(misfit.limit.exponent) in size"
                }
                return "a whole number is beyond what its field holds"
            }
            if context.codingPath.isEmpty { return "not valid JSON (a number beyond ±1.8e308 is not valid either)" }
            return "\(place(context.codingPath)): \(TerminalText.quoted(context.debugDescription, limit: 200))"
        @unknown default:
            return TerminalText.quoted("\(error)", limit: 200)
        }
    }

    /// `readings[2].cost.count`: a place in a JSON document.
    fileprivate static func place(_ path: [JSONPathElement]) -> String {
        var text = ""
        for element in path {
            switch element {
            case .index(let index): text += "[\(index)]"
            case .key(let key): text += (text.isEmpty ? "" : ".") + TerminalText.escaped(key)
            }
        }
        return text
    }
}

/// Any JSON value, decoded only to learn that it is there.
private struct DiscardedValue: Decodable {
    init(from decoder: any Decoder) throws {}
}

private enum JSONPathElement {
    case index(Int)
    case key(String)
}

/// Any JSON document, with its numbers as `Double`: what a file holds, whatever type it was meant to be.
private enum JSONValue: Decodable {
    case number(Double)
    case array([JSONValue])
    case object([String: JSONValue])
    case other

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let object = try? container.decode([String: JSONValue].self) {
            self = .object(object)
        } else if let array = try? container.decode([JSONValue].self) {
            self = .array(array)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if container.decodeNil() || (try? container.decode(Bool.self)) != nil
            || (try? container.decode(String.self)) != nil
        {
            self = .other
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a JSON value")
        }
    }

    /// The first number, keys in order, that is not whole or not below the limit of the nearest key above it in
    /// `limits` (the magnitude where its field's integer type ends). Numbers under no such key do not count.
    func firstMisfit(
        limits: [String: Double], path: [JSONPathElement] = [], limit: Double? = nil
    ) -> (path: [JSONPathElement], value: Double, limit: Double)? {
        switch self {
        case .number(let value):
            guard let limit else { return nil }
            return value == value.rounded() && abs(value) < limit ? nil : (path, value, limit)
        case .array(let elements):
            for (index, element) in elements.enumerated() {
                if let misfit = element.firstMisfit(limits: limits, path: path + [.index(index)], limit: limit) {
                    return misfit
                }
            }
        case .object(let members):
            for key in members.keys.sorted() {
                if let misfit = members[key]?.firstMisfit(limits: limits, path: path + [.key(key)], limit: limits[key] ?? limit) {
                    return misfit
                }
            }
        case .other:
            break
        }
        return nil
    }
}

extension JSONChart {
    /// Whether the file's first non-blank byte opens a JSON object or array (the other data `mprof plot` draws).
    static func startsLikeJSON(_ reader: FileReader) throws -> Bool {
        do {
            let first = try reader.firstNonBlankByte()
            return first == UInt8(ascii: "{") || first == UInt8(ascii: "[")
        } catch {
            throw CLIError("\(TerminalText.escaped(reader.path)): \(error.message)")
        }
    }
}
