internal import MemoryProfilerSystem

/// A `.dat` file as `mprof run` (ours or memory_profiler's) writes it, read back: samples, child series,
/// function records, and this package's additions.
///
/// Reading follows memory_profiler's rules, which real files need: records can come in any order (`FUNC` lines
/// before `CMDLINE` or between samples), a file written twice with `-o` holds several runs whose records are all
/// read (as memory_profiler does), `FUNC` records may lack the nesting level, and unknown record types are
/// skipped. Anything else that does not parse is an error naming the file and line, and reading stops there.
/// Fields are separated by blanks or tabs, any number of them (memory_profiler writes one blank), and a UTF-8
/// byte order mark at the very start of the file is skipped.
///
/// Every number is checked where it is read, so that what a file holds can be computed with and drawn without
/// overflow: numbers are plain decimals (`250.445312`, `-0`, `1.5e3`; not `nan`, `inf`, `0x10` or `1_0`),
/// memory is from 0 to 2^40 MiB, times are from 0 to 10^11 seconds, a `FUNC` nesting level is a whole number
/// from 0 to 10,000 (with an optional sign, as Python's `int()` reads it: `+1`, `-0`) and a `CHLD` PID from 1 to
/// `Int32.max`. A line may be at most 1 MiB long.
///
/// ```swift
/// let file = try MprofFile(path: "mprofile_20261125140000.dat")
/// print(file.peak()?.mebibytes ?? .nan)
/// ```
///
/// - Complexity: Reading is linear in the file's size, about 100 ns a line in a release build, and streams: the
///   file is read 1 MiB at a time, so its text is never held whole.
public struct MprofFile: Sendable {
    /// One reading: memory at a wall-clock time.
    public struct Sample: Hashable, Sendable {
        /// The memory (the file has it in MiB with 6 decimals, about a byte).
        public var memory: MemorySize
        /// Seconds since 1970-01-01 UTC.
        public var wallClock: Double

        /// Creates a sample.
        public init(memory: MemorySize, wallClock: Double) {
            self.memory = memory
            self.wallClock = wallClock
        }

        /// ``memory`` in MiB, the unit plots draw in.
        public var mebibytes: Double { memory.mebibytes }
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
    /// The index in ``samples`` where each run begins (the sample count at each `CMDLINE` record): several runs
    /// appended to one file (`-o` again) are told apart by it.
    public var runStarts: [Int] = []
    /// The reader that took the samples (`READER`, this package's addition); nil in memory_profiler's files.
    public var reader: String?
    /// `MEM` records: the process (with `-C`, plus its descendants), in file order.
    public var samples: [Sample] = []
    /// The process's file-backed resident pages at its samples, from `FILE` records (this package's addition;
    /// `mprof run` writes them when it samples one process).
    public var fileSamples: [Sample] = []
    /// The highest memory over a stretch of time, from a `PEAK` record.
    public struct IntervalPeak: Hashable, Sendable {
        /// The highest memory over the stretch.
        public var memory: MemorySize
        /// The time of the sample before the stretch (nil for a `PEAK` before any sample).
        public var start: Double?
        /// The end of the stretch: the record's time.
        public var end: Double

        /// ``memory`` in MiB, the unit plots draw in.
        public var mebibytes: Double { memory.mebibytes }
    }

    /// `PEAK` records (this package's addition): the kernel's high-water mark for the stretch since the sample
    /// before, written where it was above the samples around it — the spikes that sampling missed.
    public var intervalPeaks: [IntervalPeak] = []
    /// `CHLD` records, one series per child, in the order children first appear.
    public var children: [ChildSeries] = []
    /// `FUNC` records: profiled calls and timestamped regions, in file order.
    public var functions: [FunctionRecord] = []

    /// The longest line a file may have: far more than any record needs, little enough to quote and to hold.
    public static let maximumLineLength = 1 << 20

    /// Reads and parses the file at `path`, in chunks.
    ///
    /// - Throws: ``MprofFileError`` naming the file (and the line, for a record that does not parse); a
    ///   directory, device or socket is refused with ``MprofFileError/Code/notARegularFile``.
    public init(path: String) throws(MprofFileError) {
        let reader: FileReader
        do {
            reader = try FileReader(path: path)
        } catch {
            throw MprofFileError(
                error.isNotARegularFile ? .notARegularFile : .unreadable, path: path, line: nil, message: error.message)
        }
        var parser = Parser(path: path, expectedBytes: reader.regularFileSize ?? 0)
        if let failure = try reader.forEachChunk({ (chunk) throws(MprofFileError) in try parser.consume(chunk) }) {
            throw MprofFileError(.unreadable, path: path, line: nil, message: failure.message)
        }
        self = try parser.finish()
    }

    /// Parses `text`, the contents of a `.dat` file; `path` only names it in errors.
    ///
    /// - Throws: ``MprofFileError`` for a record that does not parse.
    public init(parsing text: String, path: String = "<text>") throws(MprofFileError) {
        var file = MprofFile(emptyAt: path)
        var state = ParseState()
        var text = text
        try text.withUTF8 { bytes in
            Result { () throws(MprofFileError) in
                _ = try file.parse(UnsafeRawBufferPointer(bytes), &state, isEnd: true)
            }
        }.get()
        self = file
    }

    init(emptyAt path: String) {
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

        /// The peak.
        public var memory: MemorySize
        /// The highest sample (equal to ``memory`` when the source is ``Source/samples``); nil for a file whose
        /// program ended before its first sample, which has only the kernel's lifetime peak.
        public var sampled: MemorySize?
        /// Where ``memory`` comes from.
        public var source: Source

        /// ``memory`` in MiB.
        public var mebibytes: Double { memory.mebibytes }
    }

    /// The peak of the main series, over the whole file or over the time ranges of the calls of `function`.
    ///
    /// Like memory_profiler, a function's peak is the highest sample whose time falls in one of the function's
    /// calls; a `PEAK` record counts when its stretch overlaps a call (the spike may lie just outside it: the
    /// kernel says how high, not when).
    ///
    /// - Parameter function: A `FUNC` name, or nil for the whole file.
    /// A file with `PEAK` records and no sample at all (a program that ended before the first sample) has the
    /// highest of them as its peak, with no ``Peak/sampled`` value.
    ///
    /// - Returns: Nil when there is no sample in the function's calls, no sample or `PEAK` record at all, or no
    ///   such function.
    ///
    /// - Complexity: O((*s* + *p*) log *c*) for *s* samples, *p* `PEAK` records and *c* calls of the function.
    public func peak(function: String? = nil) -> Peak? {
        var ranges: CallRanges?
        if let function {
            let calls = functions.filter { $0.name == function }
            guard !calls.isEmpty else { return nil }
            ranges = CallRanges(calls.map { ($0.startWallClock, $0.endWallClock) })
        }
        func counts(_ time: Double) -> Bool {
            guard let ranges else { return true }
            return ranges.latestEnd(ofRangesStartingBy: time) >= time
        }
        func overlaps(_ peak: IntervalPeak) -> Bool {
            guard let ranges else { return true }
            return ranges.latestEnd(ofRangesStartingBy: peak.end) > (peak.start ?? -.infinity)
        }
        var sampled: MemorySize?
        for sample in samples where sample.memory > (sampled ?? MemorySize(bytes: -1)) && counts(sample.wallClock) {
            sampled = sample.memory
        }
        var kernel: MemorySize?
        for peak in intervalPeaks where peak.memory > (kernel ?? MemorySize(bytes: -1)) && overlaps(peak) {
            kernel = peak.memory
        }
        guard let sampled else {
            guard ranges == nil, samples.isEmpty, let kernel else { return nil }
            return Peak(memory: kernel, sampled: nil, source: .kernelHighWaterMark)
        }
        if let kernel, kernel > sampled {
            return Peak(memory: kernel, sampled: sampled, source: .kernelHighWaterMark)
        }
        return Peak(memory: sampled, sampled: sampled, source: .samples)
    }

    /// The time ranges of a function's calls, sorted by start, for asking which ranges began by a time.
    private struct CallRanges {
        private var starts: [Double] = []
        /// The latest end among the ranges up to each index.
        private var latestEnds: [Double] = []

        init(_ ranges: [(start: Double, end: Double)]) {
            var latest = -Double.infinity
            for range in ranges.sorted(by: { $0.start < $1.start }) {
                latest = max(latest, range.end)
                starts.append(range.start)
                latestEnds.append(latest)
            }
        }

        /// The latest end of the ranges that start at or before `time`; -infinity when none does.
        func latestEnd(ofRangesStartingBy time: Double) -> Double {
            var low = 0
            var high = starts.count
            while low < high {
                let middle = (low + high) / 2
                if starts[middle] <= time { low = middle + 1 } else { high = middle }
            }
            return low == 0 ? -.infinity : latestEnds[low - 1]
        }
    }

    /// The names of the `FUNC` records, in order of first appearance.
    public var functionNames: [String] {
        var seen = Set<String>()
        return functions.compactMap { seen.insert($0.name).inserted ? $0.name : nil }
    }

    // MARK: Parsing

    /// The largest memory a file may give: 2^40 MiB (1 EiB), which is 2^60 bytes and so fits an `Int` with room
    /// for sums and differences.
    public static let maximumMebibytes = Double(1 << 40)
    /// The latest time a file may give, in seconds since 1970: 10^11 s is more than 3000 years from now.
    public static let maximumTime = 1e11
    /// The deepest `FUNC` nesting level a file may give.
    public static let maximumLevel = 10_000

    /// What parsing carries from one line (and one chunk) to the next.
    struct ParseState {
        var childIndex: [Int32: Int] = [:]
        var lastSampleTime: Double?
        var previousSampleTime: Double?
        var lineNumber = 0
    }

    /// Parses the complete lines of `bytes` (and, at the end of the input, the last one without its line
    /// break).
    ///
    /// - Returns: How many bytes were parsed: the rest is the start of a line that continues in the next chunk.
    mutating func parse(
        _ bytes: UnsafeRawBufferPointer, _ state: inout ParseState, isEnd: Bool
    ) throws(MprofFileError) -> Int {
        var start = 0
        let count = bytes.count
        while start < count {
            let end = Self.lineEnd(bytes, from: start)
            if end == count && !isEnd { return start }
            state.lineNumber += 1
            var lineEnd = end
            if lineEnd > start && bytes[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
            var lineStart = start
            // A byte order mark, as editors on Windows save UTF-8; memory_profiler skips the line it spoils.
            if state.lineNumber == 1, lineEnd - start >= 3, bytes[start] == 0xEF, bytes[start + 1] == 0xBB,
                bytes[start + 2] == 0xBF
            {
                lineStart += 3
            }
            let line = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<lineEnd])
            start = end + 1
            guard line.count <= Self.maximumLineLength else {
                throw MprofFileError(.lineTooLong, path: path, line: state.lineNumber, message: Self.tooLongMessage(line))
            }
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) { continue }

            // The fast path for the record that makes up nearly all of a file: `MEM <number> <number>`.
            // (It reads what DatRecord.parse would, without building a record.)
            if line.count > 4, line[0] == UInt8(ascii: "M"), line[1] == UInt8(ascii: "E"), line[2] == UInt8(ascii: "M"),
                DatFields.isSeparator(line[3])
            {
                var fields = DatFields(UnsafeRawBufferPointer(rebasing: line[4...]))
                if let first = fields.next(), let second = fields.next(), fields.next() == nil,
                    let mebibytes = DatNumber.parse(first), let time = DatNumber.parse(second),
                    mebibytes >= 0, mebibytes <= Self.maximumMebibytes, time >= 0, time <= Self.maximumTime
                {
                    samples.append(Sample(memory: MemorySize(mebibytes: mebibytes), wallClock: time + 0))
                    (state.previousSampleTime, state.lastSampleTime) = (state.lastSampleTime, time + 0)
                    continue
                }
            }
            try parseRecord(line, &state)
        }
        return count
    }

    /// Any line but a well-formed `MEM` record: parsed by ``DatRecord``, then added to the file.
    private mutating func parseRecord(_ line: UnsafeRawBufferPointer, _ state: inout ParseState) throws(MprofFileError) {
        let record: DatRecord?
        do throws(DatRecord.ParseFailure) {
            record = try DatRecord.parse(line)
        } catch {
            throw MprofFileError(error.code, path: path, line: state.lineNumber, message: error.message)
        }
        guard let record else { return }
        switch record {
        case .memory(let memory, let wallClock):
            samples.append(Sample(memory: memory, wallClock: wallClock))
            (state.previousSampleTime, state.lastSampleTime) = (state.lastSampleTime, wallClock)
        case .peak(let memory, let end):
            // The stretch began at the sample before: the one before this record's own sample, if it has one.
            let start = state.lastSampleTime.map { $0 < end ? $0 : state.previousSampleTime } ?? nil
            intervalPeaks.append(IntervalPeak(memory: memory, start: start, end: end))
        case .child(let process, let memory, let wallClock):
            let sample = Sample(memory: memory, wallClock: wallClock)
            if let index = state.childIndex[process.rawValue] {
                children[index].samples.append(sample)
            } else {
                state.childIndex[process.rawValue] = children.count
                children.append(ChildSeries(process: process, samples: [sample]))
            }
        case .function(let function):
            functions.append(function)
        case .commandLine(let text):
            commandLine = text
            commandLineCount += 1
            runStarts.append(samples.count)
        case .reader(let name):
            reader = name.isEmpty ? nil : name
        case .file(let memory, let wallClock):
            fileSamples.append(Sample(memory: memory, wallClock: wallClock))
        }
    }

    /// The index of the next line break at or after `start`, or the end of `bytes`.
    private static func lineEnd(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        ByteSearch.firstIndex(of: UInt8(ascii: "\n"), in: bytes, from: start) ?? bytes.count
    }

    static func tooLongMessage(_ start: UnsafeRawBufferPointer) -> String {
        "a line longer than \(maximumLineLength >> 20) MiB, which no mprof record is: \"\(TerminalText.quoted(start.prefix(40)))…\""
    }

}

/// A `.dat` file that cannot be read, or a record in it that does not parse.
public struct MprofFileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure, to switch on.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The file does not exist, cannot be opened, or a read failed.
        public static let unreadable = Code("unreadable")
        /// A directory, a device or a socket: only regular files and FIFOs are read.
        public static let notARegularFile = Code("notARegularFile")
        /// A line longer than ``MprofFile/maximumLineLength``.
        public static let lineTooLong = Code("lineTooLong")
        /// A line that is not a record, or a record with a field missing or not a number.
        public static let malformedRecord = Code("malformedRecord")
        /// A number outside what an mprof file can hold (negative memory, a time in the year 5000).
        public static let outOfRange = Code("outOfRange")

        public var description: String { name }
    }

    /// The kind of failure.
    public var code: Code
    /// The file.
    public var path: String
    /// The line (1 for the first), or nil when the whole file is at fault.
    public var line: Int?
    /// What is wrong; text from the file in it is quoted short, with control characters escaped.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, path: String, line: Int?, message: String) {
        self.code = code
        self.path = path
        self.line = line
        self.message = message
    }

    /// `file:line: message`, as compilers print it; control characters in the path are escaped.
    public var description: String {
        if let line { return "\(TerminalText.escaped(path)):\(line): \(message)" }
        return "\(TerminalText.escaped(path)): \(message)"
    }
}
