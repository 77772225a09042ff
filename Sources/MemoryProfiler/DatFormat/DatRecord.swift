internal import MemoryProfilerSystem

/// One line of a memory_profiler `.dat` file: the one type that both prints records (``line``) and parses
/// them (``init(parsing:)``, and ``MprofFile`` line by line).
///
/// Memory is a ``MemorySize`` and times are wall-clock seconds since 1970-01-01 UTC, as in ``MprofFile`` and
/// ``FunctionRecord``. In the text, memory is in MiB (2^20 bytes) with memory_profiler's decimals, so that its
/// `mprof plot` and `mprof peak` read our files: 6 decimals (about a byte) for samples, 4 (about 100 bytes) in
/// `FUNC` records.
public enum DatRecord: Hashable, Sendable {
    /// `CMDLINE <arguments>`: the profiled command as one text; ``commandLine(arguments:)`` quotes arguments
    /// with a blank or tab.
    case commandLine(String)
    /// `MEM <MiB, 6 decimals> <time, 4 decimals>`: a sample of the process (with its children, if included).
    case memory(MemorySize, wallClock: Double)
    /// `CHLD <pid> <MiB, 6 decimals> <time, 4 decimals>`: a sample of one descendant process.
    case child(ProcessID, MemorySize, wallClock: Double)
    /// `FUNC <name> <start MiB> <start time> <end MiB> <end time> <level>`, all with 4 decimals; blanks in the
    /// name become `_`, since readers split the line on blanks.
    case function(FunctionRecord)
    /// `PEAK <MiB, 6 decimals> <time, 4 decimals>` (this package's addition, which memory_profiler skips): the
    /// kernel's high-water mark over the interval since the previous sample, written when it was above both
    /// samples around it, so a spike that sampling missed is still in the file.
    case peak(MemorySize, wallClock: Double)
    /// `READER <name>` (this package's addition): the reader (backend) that took the samples, such as `rss`.
    case reader(String)
    /// `FILE <MiB, 6 decimals> <time, 4 decimals>` (this package's addition, which memory_profiler skips): the
    /// process's file-backed resident pages (`RssFile` of `/proc/PID/status`) at the sample of the same time, so that
    /// a verdict can tell mapped files growing from the heap growing.
    case file(MemorySize, wallClock: Double)

    /// The word a record's line starts with: each spelled here once, for writing and for reading.
    public enum Keyword: String, CaseIterable, Hashable, Sendable {
        case commandLine = "CMDLINE"
        case memory = "MEM"
        case child = "CHLD"
        case function = "FUNC"
        case peak = "PEAK"
        case reader = "READER"
        case file = "FILE"
    }

    /// The record's keyword.
    public var keyword: Keyword {
        switch self {
        case .commandLine: .commandLine
        case .memory: .memory
        case .child: .child
        case .function: .function
        case .peak: .peak
        case .reader: .reader
        case .file: .file
        }
    }

    /// The `CMDLINE` record of a command, quoted as memory_profiler quotes it: single quotes around an argument
    /// with a blank or tab; line breaks become blanks, since a record is one line.
    public static func commandLine(arguments: [String]) -> DatRecord {
        .commandLine(arguments.map(quoted).joined(separator: " "))
    }

    /// The record as one line of text, without the newline.
    public var line: String {
        let keyword = keyword.rawValue
        switch self {
        case .commandLine(let text):
            return Self.capped("\(keyword) " + String(text.map { $0 == "\n" || $0 == "\r" || $0 == "\r\n" ? " " : $0 }))
        case .memory(let memory, let wallClock), .peak(let memory, let wallClock), .file(let memory, let wallClock):
            return "\(keyword) \(DecimalFormat.fixed(memory.mebibytes, decimals: 6)) \(DecimalFormat.fixed(wallClock, decimals: 4))"
        case .child(let process, let memory, let wallClock):
            return "\(keyword) \(process) \(DecimalFormat.fixed(memory.mebibytes, decimals: 6)) "
                + DecimalFormat.fixed(wallClock, decimals: 4)
        case .reader(let name):
            return "\(keyword) \(Self.functionName(name))"
        case .function(let record):
            var fields = [
                keyword, Self.functionName(record.name),
                DecimalFormat.fixed(record.startMemory.mebibytes, decimals: 4),
                DecimalFormat.fixed(record.startWallClock, decimals: 4),
                DecimalFormat.fixed(record.endMemory.mebibytes, decimals: 4),
                DecimalFormat.fixed(record.endWallClock, decimals: 4),
            ]
            if let level = record.level { fields.append(String(level)) }
            return fields.joined(separator: " ")
        }
    }

    /// The longest `CMDLINE` record written: a command line can be up to the kernel's argument limit (2 MiB and
    /// more), far over what a reader takes as one line (1 MiB), so a longer one is cut, saying so.
    static let maximumCommandLineBytes = 256 * 1024

    private static func capped(_ line: String) -> String {
        let utf8 = line.utf8
        guard utf8.count > maximumCommandLineBytes else { return line }
        var end = utf8.index(utf8.startIndex, offsetBy: maximumCommandLineBytes)
        // Cut on a character boundary.
        while end > utf8.startIndex, String.Index(end, within: line) == nil { end = utf8.index(before: end) }
        let kept = String(line[..<end])
        return kept + " …(\(utf8.count - kept.utf8.count) more bytes)"
    }

    /// A function name as one field: memory_profiler splits records on blanks, so blanks (line breaks too)
    /// become `_`, and other control characters U+FFFD (by scalar: `"\r\n"` is one `Character`).
    static func functionName(_ name: String) -> String {
        let blanks = Set(name.unicodeScalars.filter(\.properties.isWhitespace))
        let field = MarkupText.lineField(name, replacing: blanks, with: "_")
        return field.isEmpty ? "_" : field
    }

    /// memory_profiler's quoting (single quotes around an argument with a blank); tabs and line breaks become
    /// blanks and other control characters U+FFFD, since a record is one line.
    private static func quoted(_ argument: String) -> String {
        let oneLine = MarkupText.lineField(argument, replacing: ["\n", "\r", "\t"], with: " ")
        return oneLine.contains(" ") ? "'\(oneLine)'" : oneLine
    }
}
