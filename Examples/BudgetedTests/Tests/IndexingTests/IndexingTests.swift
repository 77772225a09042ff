import Indexing
import MemoryProfilerTesting
import Testing

let mebibyte = 1 << 20

/// Budgets the tests keep.
@Suite struct WithinBudgets {
    @Test(.memoryLimit(peak: .mebibytes(64)))
    func holdsLessThanItsPeakLimit() {
        let buffer = filledBuffer(bytes: 48 * mebibyte)
        #expect(buffer.count == 48 * mebibyte)
    }

    @Test(.allocationLimit(bytes: .mebibytes(8), count: 100))
    func allocatesLessThanItsLimits() {
        let buffer = filledBuffer(bytes: mebibyte)
        #expect(buffer.last == 0x5A)
    }

    /// Child tasks run on the test's executor: their allocations are the test's, and within its limit.
    @Test(.memoryLimit(peak: .mebibytes(100)))
    func childTasksAreCounted() async {
        async let first = filledBuffer(bytes: 30 * mebibyte)
        async let second = filledBuffer(bytes: 30 * mebibyte)
        let both = await [first, second]
        #expect(both.map(\.count) == [30 * mebibyte, 30 * mebibyte])
    }
}

/// Budgets the tests break: each fails with the figure, the limit and by how much.
@Suite struct OverBudgets {
    @Test(.memoryLimit(peak: .mebibytes(32)))
    func holdsMoreThanItsPeakLimit() {
        let buffer = filledBuffer(bytes: 48 * mebibyte)
        #expect(buffer.count == 48 * mebibyte)
    }

    @Test(.allocationLimit(count: 1_000))
    func makesMoreAllocationsThanItsLimit() {
        let index = buildIndex(count: 5_000, payloadBytes: 16)
        #expect(index.count == 5_000)
    }

    @Test(.memoryLimit(increment: .mebibytes(1)))
    func leavesMoreBehindThanItsLimit() {
        SharedCache.keep(filledBuffer(bytes: 4 * mebibyte))
        #expect(SharedCache.count >= 1)
    }

    /// The peak of child tasks counts too.
    @Test(.memoryLimit(peak: .mebibytes(40)))
    func childTasksCrossTheLimit() async {
        async let first = filledBuffer(bytes: 30 * mebibyte)
        async let second = filledBuffer(bytes: 30 * mebibyte)
        let both = await [first, second]
        #expect(both.count == 2)
    }

    struct Failure: Error {}

    /// A test that throws is still checked: two issues, its error and its budget.
    @Test(.memoryLimit(peak: .mebibytes(1)))
    func throwsAfterCrossingTheLimit() throws {
        let buffer = filledBuffer(bytes: 8 * mebibyte)
        if buffer.count > 0 { throw Failure() }
    }
}

/// A suite's budget is every test's; a test's own budget for the same figure replaces it.
@Suite(.memoryLimit(peak: .mebibytes(16)))
struct SuiteBudgets {
    @Test func crossesTheSuiteLimit() {
        let buffer = filledBuffer(bytes: 24 * mebibyte)
        #expect(buffer.count > 0)
    }

    @Test(.memoryLimit(peak: .mebibytes(40)))
    func keepsItsOwnLargerLimit() {
        let buffer = filledBuffer(bytes: 24 * mebibyte)
        #expect(buffer.count > 0)
    }
}

/// Limits written wrong: each fails, saying why, and never passes.
@Suite struct WrittenWrong {
    @Test(.memoryLimit(peak: .bytes(0)))
    func zeroLimit() {}

    @Test(.allocationLimit(count: -3))
    func negativeLimit() {}

    @Test(.memoryLimit(peak: .gibibytes(1e9)))
    func absurdLimit() {}

    @Test(.allocationLimit())
    func noLimitGiven() {}
}

/// Eight tests at once (Swift Testing runs a parameterized test's cases in parallel), each holding 20 MiB times its
/// step across a suspension, so that they overlap: each one's peak must be its own.
@Suite struct InParallel {
    @Test(.memoryLimit(peak: .mebibytes(250)), arguments: 1...8)
    func holdsItsOwnShare(step: Int) async throws {
        let buffer = filledBuffer(bytes: step * 20 * mebibyte)
        try await Task.sleep(for: .milliseconds(400))
        #expect(buffer.count == step * 20 * mebibyte)
    }
}

/// Leaks: blocks of the test's that nothing points to at its end.
@Suite struct Leaks {
    /// A retain cycle: the session and its observer keep each other alive, and nothing else has them.
    @Test(.noLeaks)
    func leavesARetainCycle() {
        #expect(openObservedSession(name: "cycle") == 5)
    }

    /// Six tests at once, each leaving a cycle: each scan, made while the others run, finds its own.
    @Test(.noLeaks, arguments: 1...6)
    func leavesACycleWhileOthersRun(round: Int) {
        #expect(openObservedSession(name: "round \(round)") > 0)
    }

    /// What a global cache keeps is reachable: not a leak.
    @Test(.noLeaks)
    func keepsItsResultInAGlobalCache() {
        SharedCache.keep(filledBuffer(bytes: 1 << 20))
        #expect(SharedCache.count >= 1)
    }

    /// Everything freed: nothing to report.
    @Test(.noLeaks, .memoryLimit(peak: .mebibytes(8)))
    func freesWhatItAllocates() {
        let index = buildIndex(count: 1_000, payloadBytes: 64)
        #expect(index.count == 1_000)
    }
}

/// A test on the main actor: its work runs on the main actor's thread, not the scope's, and is counted all the same
/// (the hook asks which task allocates): over its limit, it fails like any other.
@Suite struct OnTheMainActor {
    @Test(.memoryLimit(peak: .kibibytes(512)))
    @MainActor
    func allocatesOnTheMainActor() {
        let buffer = filledBuffer(bytes: 1 << 20)
        #expect(buffer.count == 1 << 20)
    }
}
