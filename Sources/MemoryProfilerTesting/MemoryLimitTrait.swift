public import MemoryProfiler
internal import MemoryProfilerSystem
internal import MemoryReports
public import Testing

/// A memory budget for a test, or for every test of a suite: the test fails, with the measured value, the limit and
/// by how much, when its work crosses it.
///
/// ```swift
/// @Test(.memoryLimit(peak: .mebibytes(200)))
/// func buildsTheIndex() async throws { … }
///
/// @Suite(.allocationLimit(count: 10_000))
/// struct ParserTests { … }
/// ```
///
/// The figures are the test's own, exactly, also while other tests run in parallel in the same process (Swift
/// Testing's default): the heap hook counts each allocation of the test's work, and each free of those blocks, as
/// the test's (``HeapScope``). The test runs on a thread of its own, the task executor it prefers, and so do its
/// child tasks and the default actors they call; what it hands to the main actor, to actors with executors of
/// their own, to detached tasks, Dispatch queues or threads it starts is not counted. The hook must be in the test
/// process: `mprof test` runs `swift test` with it. Without it, every test with a budget fails and says how to
/// load it: a budget never passes on a number it did not measure.
///
/// Several budgets on one test (its own and its suite's) are checked on one measurement; for the same figure, the
/// test's own replaces its suite's.
public struct MemoryLimitTrait: TestTrait, SuiteTrait, TestScoping {
    /// What a budget limits.
    public enum Figure: String, Sendable, Hashable, Codable, CaseIterable {
        /// The most the test's blocks took at one time.
        case peak
        /// What the test left allocated when it ended: its blocks not freed.
        case increment
        /// The bytes all the test's allocations asked for.
        case bytesAllocated
        /// How many allocations the test made.
        case allocations
        /// The bytes of the test's blocks that nothing in the process points to at its end: leaked.
        case leaks

        var isBytes: Bool { self != .allocations }

        /// The limit's name in messages: "the peak limit of 200.0 MiB".
        var limitName: String {
            switch self {
            case .peak: "peak limit"
            case .increment: "limit on memory left allocated"
            case .bytesAllocated: "limit on bytes allocated"
            case .allocations: "allocation count limit"
            case .leaks: "leak limit"
            }
        }

        /// The figure as measured; nil for leaks that were not looked for.
        func value(_ scope: HeapScope.Measurement) -> Int? {
            switch self {
            case .peak: scope.totals.peakBytes
            case .increment: scope.totals.bytesNotFreed
            case .bytesAllocated: scope.totals.bytesAllocated
            case .allocations: scope.totals.allocations
            case .leaks: try? scope.leaks?.get().bytes
            }
        }
    }

    /// One limit: a figure and the most it may be.
    public struct Budget: Sendable, Hashable {
        public var figure: Figure
        public var limit: Int
        /// Where the budget was written; nil for ``noLeaks`` (a property knows no caller): the test's own.
        public var sourceLocation: SourceLocation?
    }

    public let budgets: [Budget]
    /// What is wrong with the budgets as written, reported as an issue of each test they are on.
    let mistakes: [Issue.Mistake]

    /// The largest limit accepted: a pebibyte (or a quadrillion allocations). Anything larger is a mistake.
    public static let largestLimit = 1 << 50

    public var isRecursive: Bool { true }

    init(_ budgets: [Budget], _ mistakes: [Issue.Mistake] = []) {
        self.budgets = budgets
        self.mistakes = mistakes + budgets.compactMap(\.mistake)
    }

    public func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? {
        testCase == nil ? nil : self
    }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        if let measurement = MemoryBudgets.current {
            // An outer trait (the suite's, or one listed before) measures: its budgets and these are checked on
            // its one measurement.
            measurement.add(budgets, mistakes)
            try await function()
            return
        }
        let measurement = MemoryBudgets(budgets, mistakes)
        try await MemoryBudgets.$current.withValue(measurement) {
            try await measurement.run(test: test, function)
        }
    }
}

extension Trait where Self == MemoryLimitTrait {
    /// Fails the test when blocks it allocated are leaked at its end: still allocated, and nothing in the process
    /// points to them (a retain cycle, a lost pointer). Blocks the test leaves where the program can still reach
    /// them (a global cache) are not leaks. Needs `mprof test`, which has the hook track every block.
    public static var noLeaks: Self {
        MemoryLimitTrait([.init(figure: .leaks, limit: 0, sourceLocation: nil)])
    }

    /// Fails the test when it leaks more than `tolerance` (see ``noLeaks``).
    public static func noLeaks(tolerating tolerance: MemorySize = .zero, sourceLocation: SourceLocation = #_sourceLocation) -> Self {
        MemoryLimitTrait([.init(figure: .leaks, limit: tolerance.bytes, sourceLocation: sourceLocation)])
    }

    /// Fails the test when the most its blocks took at one time crosses `peak`.
    public static func memoryLimit(peak: MemorySize, sourceLocation: SourceLocation = #_sourceLocation) -> Self {
        MemoryLimitTrait([.init(figure: .peak, limit: peak.bytes, sourceLocation: sourceLocation)])
    }

    /// Fails the test when what it leaves allocated at its end (its blocks not freed) crosses `increment`.
    public static func memoryLimit(increment: MemorySize, sourceLocation: SourceLocation = #_sourceLocation) -> Self {
        MemoryLimitTrait([.init(figure: .increment, limit: increment.bytes, sourceLocation: sourceLocation)])
    }

    /// Fails the test when its allocations ask for more than `bytes` in all, or are more than `count`.
    public static func allocationLimit(
        bytes: MemorySize? = nil, count: Int? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) -> Self {
        var budgets: [MemoryLimitTrait.Budget] = []
        if let bytes { budgets.append(.init(figure: .bytesAllocated, limit: bytes.bytes, sourceLocation: sourceLocation)) }
        if let count { budgets.append(.init(figure: .allocations, limit: count, sourceLocation: sourceLocation)) }
        guard !budgets.isEmpty else {
            return MemoryLimitTrait(
                [], [.init(text: ".allocationLimit() names no limit: give bytes:, count: or both", at: sourceLocation)])
        }
        return MemoryLimitTrait(budgets)
    }
}

extension MemoryLimitTrait.Budget {
    /// Why the limit cannot be meant, if it cannot: none, a negative one, or one beyond any machine.
    var mistake: Issue.Mistake? {
        let unit = figure.isBytes ? " bytes" : ""
        if limit < 0 || (limit == 0 && figure != .leaks) {
            return .init(
                text: "the \(figure.limitName) of \(limit)\(unit) can never be kept (a test's own machinery allocates a few "
                    + "hundred bytes in it): give a limit above 0", at: sourceLocation)
        }
        if limit > MemoryLimitTrait.largestLimit {
            return .init(
                text: "the \(figure.limitName) of \(limit)\(unit) is beyond any machine: the largest accepted is 2^50",
                at: sourceLocation)
        }
        return nil
    }
}

extension Issue {
    /// A problem with a budget as written, to report where it was written.
    struct Mistake: Sendable, Hashable {
        var text: String
        var at: SourceLocation?
    }
}
