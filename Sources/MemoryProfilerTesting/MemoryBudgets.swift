import MemoryProfiler
internal import MemoryProfilerSystem
internal import MemoryReports
import Synchronization
import Testing

/// One test's measurement and the budgets it is checked against: those of the outermost memory trait, and those
/// nested traits add while the test runs.
final class MemoryBudgets: Sendable {
    @TaskLocal static var current: MemoryBudgets?

    private let state: Mutex<(budgets: [MemoryLimitTrait.Budget], mistakes: [Issue.Mistake])>

    init(_ budgets: [MemoryLimitTrait.Budget], _ mistakes: [Issue.Mistake]) {
        state = Mutex((budgets, mistakes))
    }

    /// Adds a nested trait's budgets: for a figure already limited, the nested (the test's own) replaces it.
    func add(_ budgets: [MemoryLimitTrait.Budget], _ mistakes: [Issue.Mistake]) {
        state.withLock { state in
            for budget in budgets {
                state.budgets.removeAll { $0.figure == budget.figure }
                state.budgets.append(budget)
            }
            state.mistakes += mistakes
        }
    }

    /// The environment variable naming a file that gets one JSON line per test with a budget: its figures, its
    /// budgets and whether it kept them.
    static let reportVariable = "MPROF_TEST_REPORT"

    /// Runs the test in a heap scope of its own, then checks every budget on what it measured.
    func run(test: Test, _ function: @Sendable () async throws -> Void) async throws {
        guard HeapScope.isAvailable else {
            // The test still runs, and fails on its own if it does; the budgets fail because nothing checked them.
            try await function()
            let (budgets, mistakes) = state.withLock { ($0.budgets, $0.mistakes) }
            report(mistakes)
            for budget in budgets where budget.mistake == nil {
                Issue.record(
                    Comment(
                        rawValue: "the \(budget.figure.limitName) was not checked: the heap hook is not loaded in the "
                            + "test process. Run the tests with `mprof test` (it runs `swift test` with the hook), or "
                            + "preload it: LD_PRELOAD=…/libmprof-heap-hook.so swift test"),
                    sourceLocation: budget.sourceLocation)
            }
            return
        }
        let (failure, totals) = try await HeapScope.measure { () async -> (any Error)? in
            do {
                try await function()
                return nil
            } catch {
                return error
            }
        }
        let (budgets, mistakes) = state.withLock { ($0.budgets, $0.mistakes) }
        report(mistakes)
        var kept = true
        if totals.untrackedAllocations > 0, let first = budgets.first {
            kept = false
            Issue.record(
                Comment(
                    rawValue: "the memory budgets were not checked: the hook could not keep track of "
                        + "\(Quantity.count(totals.untrackedAllocations)) of the test's allocations (it ran out of "
                        + "memory for its table), so every figure is too low"),
                sourceLocation: first.sourceLocation)
        } else {
            for budget in budgets where budget.mistake == nil {
                let value = budget.figure.value(totals)
                guard value > budget.limit else { continue }
                kept = false
                Issue.record(Comment(rawValue: Self.overrun(budget, value: value, totals: totals)), sourceLocation: budget.sourceLocation)
            }
        }
        writeReport(test: test, totals: totals, budgets: budgets, kept: kept && mistakes.isEmpty)
        if let failure { throw failure }
    }

    private func report(_ mistakes: [Issue.Mistake]) {
        for mistake in mistakes { Issue.record(Comment(rawValue: mistake.text), sourceLocation: mistake.at) }
    }

    /// The failure's text: by how much, the limit, what was measured, and the figures around it.
    static func overrun(_ budget: MemoryLimitTrait.Budget, value: Int, totals: HeapScope.Totals) -> String {
        let over = value - budget.limit
        let percent = Quantity.share(over, of: budget.limit)
        let text =
            budget.figure.isBytes
            ? "+\(Quantity.bytes(over)) (\(percent)) over the \(budget.figure.limitName) of \(Quantity.bytes(budget.limit)): "
                + Quantity.bytes(value)
            : "+\(Quantity.count(over)) (\(percent)) over the \(budget.figure.limitName) of \(Quantity.count(budget.limit)): "
                + Quantity.count(value)
        return text + " — the test's heap: peak \(Quantity.bytes(totals.peakBytes)), "
            + "\(Quantity.count(totals.allocations)) allocations of \(Quantity.bytes(totals.bytesAllocated)), "
            + "\(Quantity.bytes(totals.bytesNotFreed)) in \(Quantity.count(totals.blocksNotFreed)) blocks not freed"
    }

    private func writeReport(test: Test, totals: HeapScope.Totals, budgets: [MemoryLimitTrait.Budget], kept: Bool) {
        guard let path = Environment.value(Self.reportVariable), !path.isEmpty else { return }
        let limits = budgets.map { "\(JSONText.string($0.figure.rawValue)):\($0.limit)" }.joined(separator: ",")
        let line = "{\"test\":\(JSONText.string(test.id.description)),\"name\":\(JSONText.string(test.name)),"
            + "\"keptBudgets\":\(kept),\"limits\":{\(limits)},\"allocations\":\(totals.allocations),"
            + "\"bytesAllocated\":\(totals.bytesAllocated),\"frees\":\(totals.frees),\"bytesFreed\":\(totals.bytesFreed),"
            + "\"blocksNotFreed\":\(totals.blocksNotFreed),\"bytesNotFreed\":\(totals.bytesNotFreed),"
            + "\"peakBytes\":\(totals.peakBytes),\"untrackedAllocations\":\(totals.untrackedAllocations)}"
        do {
            try LineAppender(path: path).append(line)
        } catch {
            Issue.record(Comment(rawValue: "cannot write the memory report to \(path) (\(Self.reportVariable)): \(error.message)"))
        }
    }
}
