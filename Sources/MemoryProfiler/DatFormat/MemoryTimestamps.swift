internal import MemoryProfilerSystem
import Synchronization

/// Records the memory and time at the start and end of named regions of a program: memory_profiler's
/// `profile.timestamp("name")`, and the brackets `mprof plot` draws over the memory curve.
///
/// When the program runs under `mprof run`, which names its output file in the environment variable
/// ``outputFileVariable``, every record is appended to that `.dat` file as a `FUNC` line as soon as its region
/// ends. Otherwise records stay in memory: read them with ``records``.
///
/// ```swift
/// let catalog = try withMemoryTimestamp("load catalog") {
///     try Catalog.load(from: url)
/// }
/// ```
public enum MemoryTimestamps {
    /// The environment variable through which `mprof run` names the `.dat` file to append records to.
    public static let outputFileVariable = "MPROF_OUTPUT_FILE"

    /// The nesting depth of the region being run, per task (and per thread outside tasks).
    @TaskLocal static var level = 0

    private static let storage = Mutex<[FunctionRecord]>([])
    private static let probe = try? MemoryProbe(.rss)
    private static let outputFile: LineAppender? = {
        guard let path = Environment.value(outputFileVariable), !path.isEmpty else { return nil }
        do throws(SystemError) {
            return try LineAppender(path: path)
        } catch {
            StandardError.write("swift-memory-profiler: cannot append to \(path): \(error.message); keeping records in memory")
            return nil
        }
    }()

    /// The records of regions that have ended, oldest first, when the program does not run under `mprof run`.
    public static var records: [FunctionRecord] {
        storage.withLock { $0 }
    }

    /// Forgets the records kept in memory.
    public static func removeAllRecords() {
        storage.withLock { $0.removeAll() }
    }

    /// Whether records go to the `.dat` file of `mprof run` rather than to ``records``.
    public static var isWritingToFile: Bool { outputFile != nil }

    static func begin() -> (memory: MemorySize, wallClock: Double) {
        ((try? probe?.read()) ?? .zero, Clocks.wallClockSeconds())
    }

    static func end(_ name: String, start: (memory: MemorySize, wallClock: Double), level: Int) {
        append(
            FunctionRecord(
                name: name, startMemory: start.memory, startWallClock: start.wallClock,
                endMemory: (try? probe?.read()) ?? .zero, endWallClock: Clocks.wallClockSeconds(), level: level))
    }

    /// Writes a record to the `.dat` file of `mprof run`, or keeps it in ``records``.
    static func append(_ record: FunctionRecord) {
        if let outputFile, (try? outputFile.append(DatRecord.function(record).line)) != nil { return }
        storage.withLock { $0.append(record) }
    }
}

/// Runs `body` as a named region whose start and end memory and time are recorded (see ``MemoryTimestamps``).
///
/// - Parameters:
///   - name: The region's name, as plots label it.
///   - body: The work.
/// - Returns: What `body` returns.
/// - Throws: What `body` throws; the region is recorded either way.
public func withMemoryTimestamp<Result>(_ name: String, _ body: () throws -> Result) rethrows -> Result {
    let level = MemoryTimestamps.level
    let start = MemoryTimestamps.begin()
    defer { MemoryTimestamps.end(name, start: start, level: level) }
    return try MemoryTimestamps.$level.withValue(level + 1) { try body() }
}

/// Runs the asynchronous `body` as a named region whose start and end memory and time are recorded.
///
/// - Parameters:
///   - name: The region's name, as plots label it.
///   - body: The work.
/// - Returns: What `body` returns.
/// - Throws: What `body` throws; the region is recorded either way.
public func withMemoryTimestamp<Result>(
    _ name: String, isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> Result
) async rethrows -> Result {
    let level = MemoryTimestamps.level
    let start = MemoryTimestamps.begin()
    defer { MemoryTimestamps.end(name, start: start, level: level) }
    return try await MemoryTimestamps.$level.withValue(level + 1) { try await body() }
}
