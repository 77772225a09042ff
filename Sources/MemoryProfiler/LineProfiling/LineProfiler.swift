internal import MemoryProfilerSystem
import Synchronization

/// Line-by-line memory profiles of the functions marked `@MemoryProfiled` (module `MemoryProfilerMacros`).
///
/// Each profiled call measures, before every statement, the resident set left by the statement before it, and
/// keeps per line: the largest memory after it, the sum of its increments, how often it ran, the highest
/// memory reached while it ran (Peak), and the malloc bytes it left in use (Heap). The report prints when the
/// program exits, and on demand:
///
/// ```swift
/// import MemoryProfilerMacros
///
/// @MemoryProfiled
/// func loadCatalog() throws -> Catalog { … }
///
/// LineProfiler.configuration.precision = 3
/// print(LineProfiler.report().text())
/// ```
///
/// What the numbers mean when calls overlap: memory is a property of the whole process, so a line's increment
/// includes whatever other threads allocated while it ran, and the line that calls another function (profiled
/// or not) carries that function's whole cost. Recursive and concurrent calls each track their own current
/// line; their numbers add up in one table per function (occurrences and increments summed, Mem usage and
/// Peak the largest seen).
public enum LineProfiler {
    /// How reports are written and what is measured. Set it before the first profiled call; the environment
    /// variables listed on ``LineProfilerConfiguration`` set it without recompiling.
    public static var configuration: LineProfilerConfiguration {
        get { configurationStorage.withLock { $0 } }
        set {
            configurationStorage.withLock { $0 = newValue }
            LineRecorder.shared.apply(newValue)
        }
    }

    /// The profile of every profiled function that has run, as data.
    public static func report() -> LineProfileReport {
        LineRecorder.shared.report()
    }

    /// Forgets what has been recorded, for example to profile a second phase of a program on its own.
    public static func removeAll() {
        LineRecorder.shared.removeAll()
    }

    // MARK: Entry points of the macros

    /// Starts a profiled call. `@MemoryProfiled` calls it first thing in the function; not for direct use.
    public static func enter(
        function: StaticString, file: StaticString, line: Int, source: StaticString, precision: Int?
    ) -> LineFrame {
        _ = setUp
        return LineFrame(
            LineRecorder.shared.enter(function: function, file: file, line: line, source: source, precision: precision))
    }

    /// Runs a block profiled line by line: what `#memoryProfiled { … }` expands to; not for direct use.
    public static func profile<Result, Failure: Error>(
        block: StaticString, file: StaticString, line: Int, source: StaticString,
        _ body: (inout LineFrame) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        var frame = enter(function: block, file: file, line: line, source: source, precision: nil)
        defer { frame.exit() }
        return try body(&frame)
    }

    /// Runs an asynchronous block profiled line by line: what `#memoryProfiled { … }` expands to.
    public static func profile<Result, Failure: Error>(
        block: StaticString, file: StaticString, line: Int, source: StaticString,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (inout LineFrame) async throws(Failure) -> Result
    ) async throws(Failure) -> Result {
        var frame = enter(function: block, file: file, line: line, source: source, precision: nil)
        defer { frame.exit() }
        return try await body(&frame)
    }

    // MARK: State

    private static let configurationStorage = Mutex(LineProfilerConfiguration.fromEnvironment())

    /// On the first profiled call: hands the configuration to the recorder and registers the at-exit report.
    private static let setUp: Void = {
        LineRecorder.shared.apply(configuration)
        ProcessTable.atExit { LineProfiler.writeReportsAtExit() }
    }()

    private static func writeReportsAtExit() {
        let configuration = configuration
        let report = report()
        guard !report.functions.isEmpty else { return }
        if let jsonPath = configuration.jsonReportPath {
            do {
                try TextFile.write(report.json(), to: jsonPath)
            } catch {
                StandardError.write("swift-memory-profiler: cannot write the line profile to \(jsonPath): \(error)")
            }
        }
        let text = report.text(precision: configuration.precision, style: configuration.style)
        switch configuration.reportDestination {
        case .standardOutput:
            print(text, terminator: "")
        case .standardError:
            StandardError.write(text, terminator: "")
        case .file(let path):
            do {
                try TextFile.write(text, to: path)
            } catch {
                StandardError.write("swift-memory-profiler: cannot write the line profile to \(path): \(error)")
            }
        case .none:
            break
        }
    }
}
