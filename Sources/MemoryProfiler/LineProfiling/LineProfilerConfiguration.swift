internal import MemoryProfilerSystem

/// How line-by-line profiling reports and what it measures: ``LineProfiler/configuration``.
///
/// Each setting can also come from the environment, read once when the program starts profiling, so a program
/// can be profiled differently without recompiling:
///
/// | variable | setting | example |
/// |---|---|---|
/// | `MPROF_LINE_REPORT` | ``reportDestination``: `stdout`, `stderr`, `none` or a file path | `profile.txt` |
/// | `MPROF_LINE_JSON` | ``jsonReportPath`` | `profile.json` |
/// | `MPROF_LINE_PRECISION` | ``precision`` | `3` |
/// | `MPROF_LINE_STYLE` | ``style``: `extended` or `classic` | `classic` |
/// | `MPROF_LINE_LIMIT_MIB` | ``memoryLimit`` in MiB | `512` |
/// | `MPROF_LINE_TRAP` | ``trapsOnMemoryLimit``: `1` | `1` |
/// | `MPROF_LINE_HEAP` | ``measuresHeap``: `0` turns heap readings off | `0` |
public struct LineProfilerConfiguration: Sendable, Hashable {
    /// Where the text report goes when the program exits.
    public enum Destination: Sendable, Hashable {
        case standardOutput
        case standardError
        case file(String)
        case none
    }

    /// Digits after the decimal point of the MiB columns: 1 by default, as memory_profiler's decorator.
    /// `@MemoryProfiled(precision:)` overrides it for one function.
    public var precision = 1
    /// The columns of the text report.
    public var style = LineReportStyle.extended
    /// Where the text report goes at exit.
    public var reportDestination = Destination.standardOutput
    /// A file the report is written to as JSON at exit (``LineProfileReport`` is `Codable`), or nil.
    public var jsonReportPath: String?
    /// When the memory during a profiled line goes above this, standard error names the file, line and function
    /// (once per process), like memory_profiler's `--pdb-mmem`.
    public var memoryLimit: MemorySize?
    /// Raise `SIGTRAP` when ``memoryLimit`` is crossed, so a debugger stops right after that line. Without a
    /// debugger, Swift's backtracer prints a backtrace and the program goes on; with `SWIFT_BACKTRACE=enable=no`
    /// the signal's default action ends the process.
    public var trapsOnMemoryLimit = false
    /// Measure the malloc heap in use (the allocator's own count, ``MallocStatistics``) at every probe for the Heap column.
    public var measuresHeap = true

    /// The defaults, changed by the environment variables in the table above.
    public init() {}

    static func fromEnvironment() -> LineProfilerConfiguration {
        var configuration = LineProfilerConfiguration()
        if let value = environment("MPROF_LINE_REPORT") {
            switch value {
            case "stdout", "-": configuration.reportDestination = .standardOutput
            case "stderr": configuration.reportDestination = .standardError
            case "none": configuration.reportDestination = .none
            default: configuration.reportDestination = .file(value)
            }
        }
        configuration.jsonReportPath = environment("MPROF_LINE_JSON")
        if let value = environment("MPROF_LINE_PRECISION") {
            if let precision = Int(value), (0...12).contains(precision) {
                configuration.precision = precision
            } else {
                warn("MPROF_LINE_PRECISION=\(value) is not a number from 0 to 12; using 1")
            }
        }
        if let value = environment("MPROF_LINE_STYLE") {
            if let style = LineReportStyle(rawValue: value) {
                configuration.style = style
            } else {
                warn("MPROF_LINE_STYLE=\(value) is neither extended nor classic; using extended")
            }
        }
        if let value = environment("MPROF_LINE_LIMIT_MIB") {
            // 2^40 MiB (1 EiB) is far above any machine and keeps the byte count well inside an Int.
            if let mebibytes = Double(value), mebibytes > 0, mebibytes <= 0x1p40 {
                configuration.memoryLimit = MemorySize(mebibytes: mebibytes)
            } else {
                warn("MPROF_LINE_LIMIT_MIB=\(value) is not a number of MiB from 0 to 2^40; no limit set")
            }
        }
        configuration.trapsOnMemoryLimit = environment("MPROF_LINE_TRAP") == "1"
        if environment("MPROF_LINE_HEAP") == "0" { configuration.measuresHeap = false }
        return configuration
    }

    private static func environment(_ name: String) -> String? {
        guard let text = Environment.value(name), !text.isEmpty else { return nil }
        return text
    }

    private static func warn(_ message: String) {
        StandardError.write("swift-memory-profiler: \(TerminalText.escaped(message))")
    }
}

/// The columns of a line report.
public enum LineReportStyle: String, Sendable, Hashable, Codable, CaseIterable {
    /// memory_profiler's columns, then Peak (the highest memory while the line ran) and Heap (malloc bytes the
    /// line left in use).
    case extended
    /// Exactly memory_profiler's columns: Line #, Mem usage, Increment, Occurrences, Line Contents.
    case classic
}
