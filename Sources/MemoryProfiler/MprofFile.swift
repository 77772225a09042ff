/// A `.dat` file as `mprof run` (ours or memory_profiler's) writes it, read back: samples, child series,
/// function records, and this package's additions.
///
/// Reading follows memory_profiler's rules, which real files need: records can come in any order (`FUNC` lines
/// before `CMDLINE` or between samples), a file written twice with `-o` holds several runs whose records are all
/// read (as memory_profiler does), `FUNC` records may lack the nesting level, and unknown record types are
/// skipped. Anything else that does not parse is an error naming the file and line.
///
/// ```swift
/// let file = try MprofFile(path: "mprofile_20261125140000.dat")
/// print(file.peak()?.mebibytes ?? .nan)
/// ```
///
/// - Complexity: Reading is linear in the file's size: about 100 ns a line in a release build.
public struct MprofFile: Sendable {
    /// One reading: MiB (2^20 bytes) at a wall-clock time (seconds since 1970-01-01 UTC).
    public struct Sample: Hashable, Sendable {
        /// Memory in MiB, as the file has it.
        public var mebibytes: Double
        /// Seconds since 1970-01-01 UTC.
        public var time: Double

        /// Creates a sample.
        public init(mebibytes: Double, time: Double) {
            self.mebibytes = mebibytes
            self.time = time
        }
    }

    /// The samples of one child process (`CHLD` records, written by `mprof run -M`).
    public struct ChildSeries: Hashable, Sendable {
        /// The child's PID.
        public var process: ProcessID
        /// Its samples, in file order.
        public var samples: [Sample]
    }

    /// The file's path, as given.
    public var path: String
    /// The command line (`CMDLINE`): the last one in the file, as memory_profiler reads it.
    public var commandLine: String?
    /// How many `CMDLINE` records the file has: more than one when several runs were appended to it.
    public var commandLineCount = 0
    /// The reader that took the samples (`READER`, this package's addition); nil in memory_profiler's files.
    public var reader: String?
    /// `MEM` records: the process (with `-C`, plus its descendants), in file order.
    public var samples: [Sample] = []
    /// The highest memory over a stretch of time, from a `PEAK` record.
    public struct IntervalPeak: Hashable, Sendable {
        /// Memory in MiB.
        public var mebibytes: Double
        /// The time of the sample before the stretch (nil for a `PEAK` before any sample).
        public var start: Double?
        /// The end of the stretch: the record's time.
        public var end: Double
    }

    /// `PEAK` records (this package's addition): the kernel's high-water mark for the stretch since the sample
    /// before, written where it was above the samples around it — the spikes that sampling missed.
    public var intervalPeaks: [IntervalPeak] = []
    /// `CHLD` records, one series per child, in the order children first appear.
    public var children: [ChildSeries] = []
    /// `FUNC` records: profiled calls and timestamped regions, in file order.
    public var functions: [FunctionRecord] = []

    /// Reads and parses the file at `path`.
    ///
    /// - Throws: ``MprofFileError`` naming the file (and the line, for a record that does not parse).
    public init(path: String) throws(MprofFileError) {
        let contents: [UInt8]
        do {
            contents = try FileBytes.read(path)
        } catch {
            throw MprofFileError(path: path, line: nil, message: error.message)
        }
        var file = MprofFile(emptyAt: path)
        try contents.withUnsafeBytes { bytes in Result { () throws(MprofFileError) in try file.parse(bytes) } }.get()
        self = file
    }

    /// Parses `text`, the contents of a `.dat` file; `path` only names it in errors.
    ///
    /// - Throws: ``MprofFileError`` for a record that does not parse.
    public init(parsing text: String, path: String = "<text>") throws(MprofFileError) {
        var file = MprofFile(emptyAt: path)
        var text = text
        try text.withUTF8 { bytes in
            Result { () throws(MprofFileError) in try file.parse(UnsafeRawBufferPointer(bytes)) }
        }.get()
        self = file
    }

    private init(emptyAt path: String) {
        self.path = path
    }

    // MARK: Peaks

    /// The highest memory of the file's main series, and where it comes from.
    public struct Peak: Hashable, Sendable {
        /// Where the number comes from.
        public enum Source: String, Hashable, Sendable, Codable {
            /// The highest `MEM` sample: what memory_profiler reports; a spike between samples is missed.
            case samples
            /// A `PEAK` record: the kernel's high-water mark, above every sample.
            case kernelHighWaterMark
        }

        /// The peak in MiB.
        public var mebibytes: Double
        /// The highest sample in MiB (equal to ``mebibytes`` when the source is ``Source/samples``).
        public var sampledMebibytes: Double
        /// Where ``mebibytes`` comes from.
        public var source: Source
    }

    /// The peak of the main series, over the whole file or over the time ranges of the calls of `function`.
    ///
    /// Like memory_profiler, a function's peak is the highest sample whose time falls in one of the function's
    /// calls; a `PEAK` record counts when its stretch overlaps a call (the spike may lie just outside it: the
    /// kernel says how high, not when).
    ///
    /// - Parameter function: A `FUNC` name, or nil for the whole file.
    /// - Returns: Nil when there is no sample (in the function's calls, or at all), or no such function.
    public func peak(function: String? = nil) -> Peak? {
        var ranges: [(Double, Double)]?
        if let function {
            let calls = functions.filter { $0.name == function }
            guard !calls.isEmpty else { return nil }
            ranges = calls.map { ($0.startWallClock, $0.endWallClock) }
        }
        func counts(_ time: Double) -> Bool {
            guard let ranges else { return true }
            return ranges.contains { $0.0 <= time && time <= $0.1 }
        }
        func overlaps(_ peak: IntervalPeak) -> Bool {
            guard let ranges else { return true }
            return ranges.contains { range in (peak.start ?? -.infinity) < range.1 && peak.end >= range.0 }
        }
        var sampled = -Double.infinity
        for sample in samples where sample.mebibytes > sampled && counts(sample.time) {
            sampled = sample.mebibytes
        }
        guard sampled > -Double.infinity else { return nil }
        var kernel = -Double.infinity
        for peak in intervalPeaks where peak.mebibytes > kernel && overlaps(peak) {
            kernel = peak.mebibytes
        }
        if kernel > sampled {
            return Peak(mebibytes: kernel, sampledMebibytes: sampled, source: .kernelHighWaterMark)
        }
        return Peak(mebibytes: sampled, sampledMebibytes: sampled, source: .samples)
    }

    /// The names of the `FUNC` records, in order of first appearance.
    public var functionNames: [String] {
        var seen = Set<String>()
        return functions.compactMap { seen.insert($0.name).inserted ? $0.name : nil }
    }

    // MARK: Parsing

    private mutating func parse(_ bytes: UnsafeRawBufferPointer) throws(MprofFileError) {
        var childIndex: [Int32: Int] = [:]
        samples.reserveCapacity(bytes.count / 32)
        var lastSampleTime: Double?
        var previousSampleTime: Double?
        var lineNumber = 0
        var start = 0
        let count = bytes.count
        while start < count {
            lineNumber += 1
            var end = start
            while end < count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
            var lineEnd = end
            if lineEnd > start && bytes[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
            let line = UnsafeRawBufferPointer(rebasing: bytes[start..<lineEnd])
            start = end + 1
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) { continue }

            // The fast path for the record that makes up nearly all of a file: `MEM <number> <number>`.
            if line.count > 4, line[0] == UInt8(ascii: "M"), line[1] == UInt8(ascii: "E"), line[2] == UInt8(ascii: "M"),
                line[3] == UInt8(ascii: " ")
            {
                var fields = DatFields(UnsafeRawBufferPointer(rebasing: line[4...]))
                if let first = fields.next(), let second = fields.next(), fields.next() == nil,
                    let mebibytes = DatNumber.parse(first), let time = DatNumber.parse(second),
                    mebibytes.isFinite, time.isFinite
                {
                    samples.append(Sample(mebibytes: mebibytes, time: time))
                    (previousSampleTime, lastSampleTime) = (lastSampleTime, time)
                    continue
                }
            }

            var fields = DatFields(line)
            let kind = fields.next() ?? line
            func fail(_ message: String) -> MprofFileError {
                MprofFileError(path: path, line: lineNumber, message: message)
            }
            func number(_ what: String) throws(MprofFileError) -> Double {
                guard let field = fields.next() else {
                    throw fail("\(Self.text(kind)) is missing \(what): \"\(Self.text(line))\"")
                }
                guard let value = DatNumber.parse(field), value.isFinite else {
                    throw fail("\(Self.text(kind)) has \"\(Self.text(field))\" where \(what) should be")
                }
                return value
            }

            switch Self.text(kind) {
            case "MEM":
                let mebibytes = try number("the memory in MiB")
                let time = try number("the time")
                samples.append(Sample(mebibytes: mebibytes, time: time))
                (previousSampleTime, lastSampleTime) = (lastSampleTime, time)
            case "PEAK":
                let mebibytes = try number("the memory in MiB")
                let end = try number("the time")
                // The stretch began at the sample before: the one before this record's own sample, if it has one.
                let start = lastSampleTime.map { $0 < end ? $0 : previousSampleTime } ?? nil
                intervalPeaks.append(IntervalPeak(mebibytes: mebibytes, start: start, end: end))
            case "CHLD":
                guard let pidField = fields.next(), let pid = Int32(Self.text(pidField)), pid > 0 else {
                    throw fail("CHLD needs a child's PID first: \"\(Self.text(line))\"")
                }
                let mebibytes = try number("the memory in MiB")
                let sample = Sample(mebibytes: mebibytes, time: try number("the time"))
                if let index = childIndex[pid] {
                    children[index].samples.append(sample)
                } else {
                    childIndex[pid] = children.count
                    children.append(ChildSeries(process: ProcessID(pid), samples: [sample]))
                }
            case "FUNC":
                guard let name = fields.next() else { throw fail("FUNC has no function name") }
                let startMemory = try number("the memory at the start")
                let startTime = try number("the start time")
                let endMemory = try number("the memory at the end")
                let endTime = try number("the end time")
                var level: Int?
                if let levelField = fields.next() {
                    guard let value = Int(Self.text(levelField)), value >= 0 else {
                        throw fail("FUNC has \"\(Self.text(levelField))\" where the nesting level should be")
                    }
                    level = value
                }
                functions.append(
                    FunctionRecord(
                        name: Self.text(name), startMemory: MemorySize(mebibytes: startMemory),
                        startWallClock: startTime, endMemory: MemorySize(mebibytes: endMemory),
                        endWallClock: endTime, level: level))
            case "CMDLINE":
                commandLine = fields.rest.map(Self.text) ?? ""
                commandLineCount += 1
            case "READER":
                reader = fields.next().map(Self.text)
            default:
                // memory_profiler skips record types it does not know; so do we, for newer files.
                guard Self.isRecordType(kind) else {
                    throw fail("not a record of an mprof file: \"\(Self.text(line.prefix(60)))\"")
                }
            }
        }
    }

    /// A record type is a word of capital letters, digits and `_`: anything else is not an mprof file.
    private static func isRecordType(_ word: UnsafeRawBufferPointer) -> Bool {
        !word.isEmpty && word.allSatisfy { byte in
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_")
        }
    }

    private static func text(_ bytes: UnsafeRawBufferPointer) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    private static func text(_ bytes: Slice<UnsafeRawBufferPointer>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes), as: UTF8.self)
    }
}

/// A `.dat` file that cannot be read, or a record in it that does not parse.
public struct MprofFileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file.
    public var path: String
    /// The line (1 for the first), or nil when the whole file is at fault.
    public var line: Int?
    /// What is wrong.
    public var message: String

    /// `file:line: message`, as compilers print it.
    public var description: String {
        if let line { return "\(path):\(line): \(message)" }
        return "\(path): \(message)"
    }
}

/// The space-separated fields of one line.
struct DatFields {
    private let line: UnsafeRawBufferPointer
    private var position = 0

    init(_ line: UnsafeRawBufferPointer) {
        self.line = line
    }

    mutating func next() -> UnsafeRawBufferPointer? {
        while position < line.count && line[position] == UInt8(ascii: " ") { position += 1 }
        guard position < line.count else { return nil }
        let start = position
        while position < line.count && line[position] != UInt8(ascii: " ") { position += 1 }
        return UnsafeRawBufferPointer(rebasing: line[start..<position])
    }

    /// Everything after the current field and one space (a `CMDLINE`'s arguments, blanks included).
    var rest: UnsafeRawBufferPointer? {
        let start = position < line.count ? position + 1 : line.count
        return UnsafeRawBufferPointer(rebasing: line[start...])
    }
}

/// Decimal numbers as `.dat` files write them (`250.445312`), fast; anything else goes to `Double(_:)`.
enum DatNumber {
    static func parse(_ field: UnsafeRawBufferPointer) -> Double? {
        var index = 0
        var negative = false
        if index < field.count && field[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        var whole: UInt64 = 0
        var digits = 0
        while index < field.count, let digit = Self.digit(field[index]), digits < 18 {
            whole = whole &* 10 &+ UInt64(digit)
            digits += 1
            index += 1
        }
        var fraction: UInt64 = 0
        var scale = 1.0
        var fractionDigits = 0
        if index < field.count && field[index] == UInt8(ascii: ".") {
            index += 1
            while index < field.count, let digit = Self.digit(field[index]), fractionDigits < 15 {
                fraction = fraction &* 10 &+ UInt64(digit)
                scale *= 10
                fractionDigits += 1
                index += 1
            }
        }
        guard index == field.count, digits + fractionDigits > 0 else {
            return Double(String(decoding: field, as: UTF8.self))
        }
        let value = Double(whole) + Double(fraction) / scale
        return negative ? -value : value
    }

    private static func digit(_ byte: UInt8) -> UInt8? {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") ? byte - UInt8(ascii: "0") : nil
    }
}
