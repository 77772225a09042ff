#if canImport(XCTest)
public import MemoryProfiler
internal import MemoryReports
import Testing
internal import XCTest

/// Runs `body` and fails the XCTest test it is called from (`XCTFail`, at the call) for each budget `body`
/// crosses, with the same message as the Swift Testing traits (``MemoryLimitTrait``): the figure, the limit, by how
/// much, and the sites. For suites that have not moved to Swift Testing.
///
/// ```swift
/// func testIndexing() throws {
///     let index = try assertMemory(peakBelow: .mebibytes(200)) { buildIndex(of: documents) }
///     XCTAssertEqual(index.count, 1_000)
/// }
/// ```
///
/// `body` is measured on the calling thread (XCTest runs a test's methods on one): what it hands to other threads
/// is not counted. Needs the heap hook in the test process (`mprof test`); without it, the assertion fails and says
/// how to load it, and `body` still runs.
///
/// - Parameters:
///   - peak: The most `body`'s blocks may take at one time.
///   - increment: The most it may leave allocated when it returns.
///   - bytes: The most all its allocations may ask for.
///   - count: The most allocations it may make.
///   - noLeaks: Fail when blocks it allocated are unreachable when it returns (needs `mprof test`).
/// - Returns: What `body` returned.
/// - Throws: What `body` throws.
@discardableResult
public func assertMemory<T>(
    peakBelow peak: MemorySize? = nil, notFreedBelow increment: MemorySize? = nil,
    allocatedBelow bytes: MemorySize? = nil, allocationsBelow count: Int? = nil, noLeaks: Bool = false,
    file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> T
) throws -> T {
    var budgets: [MemoryLimitTrait.Budget] = []
    for (figure, limit) in [(MemoryLimitTrait.Figure.peak, peak?.bytes), (.increment, increment?.bytes), (.bytesAllocated, bytes?.bytes), (.allocations, count)] {
        if let limit { budgets.append(.init(figure: figure, limit: limit, sourceLocation: nil)) }
    }
    if noLeaks { budgets.append(.init(figure: .leaks, limit: 0, sourceLocation: nil)) }
    let mistakes = budgets.compactMap(\.mistake).map(\.text) + (budgets.isEmpty ? ["assertMemory names no budget"] : [])
    for mistake in mistakes { XCTFail(mistake, file: file, line: line) }
    guard HeapScope.isAvailable else {
        XCTFail(
            "the memory budgets were not checked: the heap hook is not loaded in the test process. Run the tests with "
                + "`mprof test`, or preload it: LD_PRELOAD=…/libmprof-heap-hook.so swift test",
            file: file, line: line)
        return try body()
    }
    guard HeapScope.seesAllocations else {
        XCTFail("the memory budgets were not checked: " + MemoryBudgets.blindHook, file: file, line: line)
        return try body()
    }
    let stacks = MemoryBudgets.recordStacks()
    var outcome: Result<T, any Error>?
    let scope: HeapScope.Measurement
    do {
        scope = try HeapScope.measure(findingLeaks: noLeaks) {
            outcome = Result { try body() }
        }.scope
    } catch {
        XCTFail("the memory budgets were not checked: \(error)", file: file, line: line)
        guard let outcome else { return try body() }
        return try outcome.get()
    }
    for (_, text) in MemoryBudgets.failures(of: budgets.filter { $0.mistake == nil }, in: scope, stacks: stacks) {
        XCTFail(text, file: file, line: line)
    }
    guard let outcome else { preconditionFailure("the measured body did not run") }
    return try outcome.get()
}
#endif
