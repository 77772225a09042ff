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

    /// Whether a budget limits leaks: the scan is made only then.
    var wantsLeaks: Bool { state.withLock { $0.budgets.contains { $0.figure == .leaks } } }

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
            report(mistakes, test)
            for budget in budgets where budget.mistake == nil {
                Issue.record(
                    Comment(
                        rawValue: "the \(budget.figure.limitName) was not checked: the heap hook is not loaded in the "
                            + "test process. Run the tests with `mprof test` (it runs `swift test` with the hook), or "
                            + "preload it: LD_PRELOAD=…/libmprof-heap-hook.so swift test"),
                    sourceLocation: budget.sourceLocation ?? test.sourceLocation)
            }
            return
        }
        if !HeapScope.seesAllocations {
            try await function()
            let (budgets, mistakes) = state.withLock { ($0.budgets, $0.mistakes) }
            report(mistakes, test)
            for budget in budgets where budget.mistake == nil {
                Issue.record(
                    Comment(rawValue: "the \(budget.figure.limitName) was not checked: " + Self.blindHook),
                    sourceLocation: budget.sourceLocation ?? test.sourceLocation)
            }
            return
        }
        let stacks = Self.recordStacks()
        // The test runs as a child task of its own, whose frames are gone when it ends: a stale copy of a pointer in
        // them would hide a leak from the scan.
        let (failure, scope) = try await HeapScope.measure(findingLeaksIf: { self.wantsLeaks }) { () async -> (any Error)? in
            // The child never outlives the group, which waits for it: the closure does not escape.
            await withoutActuallyEscaping(function) { function in
                await withTaskGroup(of: (any Error)?.self) { group in
                    group.addTask {
                        do {
                            // Where the test hops (the main actor), its task's allocations are still its own.
                            try await HeapScope.countingCurrentTask { try await function() }
                            return nil
                        } catch {
                            return error
                        }
                    }
                    return await group.next() ?? nil
                }
            }
        }
        let totals = scope.totals
        let (budgets, mistakes) = state.withLock { ($0.budgets, $0.mistakes) }
        report(mistakes, test)
        var kept = true
        let failures = Self.failures(of: budgets.filter { $0.mistake == nil }, in: scope, stacks: stacks)
        for (budget, text) in failures {
            kept = false
            Issue.record(Comment(rawValue: text), sourceLocation: budget.sourceLocation ?? test.sourceLocation)
        }
        writeReport(test: test, totals: totals, budgets: budgets, kept: kept && mistakes.isEmpty)
        if let failure { throw failure }
    }

    /// Each budget `scope` crossed, or could not be checked against, with its failure's text: the figure, the
    /// limit, by how much and the sites (read from the capture once, for all of them).
    static func failures(
        of budgets: [MemoryLimitTrait.Budget], in scope: HeapScope.Measurement, stacks: Result<String, MemoryError>
    ) -> [(MemoryLimitTrait.Budget, String)] {
        let totals = scope.totals
        if totals.untrackedAllocations > 0, let first = budgets.first {
            return [
                (
                    first,
                    "the memory budgets were not checked: the hook could not keep track of "
                        + "\(Quantity.count(totals.untrackedAllocations)) of the allocations (it ran out of memory for "
                        + "its table), so every figure is too low"
                )
            ]
        }
        var profile: Result<HeapProfile, MemoryError>?
        var failures: [(MemoryLimitTrait.Budget, String)] = []
        for budget in budgets {
            guard let value = budget.figure.value(scope) else {
                var why = "no leak scan was made"
                if case .failure(let error)? = scope.leaks { why = error.message }
                failures.append((budget, "the leak limit was not checked: \(why)"))
                continue
            }
            guard value > budget.limit else { continue }
            var text = overrun(budget, value: value, scope: scope)
            if case .failure(let why) = stacks {
                text += "\n(no sites: \(why.message))"
            } else {
                if profile == nil { profile = Result { () throws(MemoryError) in try scope.profile() } }
                switch profile {
                case .success(let heap): text += sites(heap, budget.figure)
                case .failure(let why): text += "\n(no sites: \(why.message))"
                case nil: break
                }
            }
            failures.append((budget, text))
        }
        return failures
    }

    /// Why no budget can be checked when the hook is loaded but blind.
    static let blindHook =
        "the heap hook is loaded but sees none of this process's allocations: another allocator comes before it "
        + "(LD_PRELOAD lists the hook after it?), or the program allocates through one linked into it"

    /// The environment variables that say where the scopes' capture is kept (a directory), and that stacks are not
    /// to be recorded (`0`).
    static let capturesVariable = "MPROF_TEST_CAPTURES"
    static let stacksVariable = "MPROF_TEST_STACKS"

    /// Starts recording the tests' stacks, once, unless told not to: the capture a failure's sites are read from.
    static func recordStacks() -> Result<String, MemoryError> {
        if Environment.value(stacksVariable) == "0" {
            return .failure(MemoryError(.unavailable, "\(stacksVariable)=0"))
        }
        let directory = Environment.value(capturesVariable).flatMap { $0.isEmpty ? nil : $0 }
        return Result { () throws(MemoryError) in try HeapScope.recordStacks(keepingCaptureIn: directory) }
    }

    /// The sites that weigh most in `figure` (HeapReport.siteLines), one line each.
    static func sites(_ heap: HeapProfile, _ figure: MemoryLimitTrait.Figure) -> String {
        let view: HeapProfile.View =
            switch figure {
            case .peak: .peak
            case .increment: .notFreed
            case .bytesAllocated: .allocated
            case .allocations: .calls
            case .leaks: .leaks
            }
        let text = HeapReport.siteLines(heap, view).map { "\n  " + $0 }.joined()
        return text.isEmpty ? "\n(no sites: the capture holds none of the test's allocations)" : text
    }

    private func report(_ mistakes: [Issue.Mistake], _ test: Test) {
        for mistake in mistakes {
            Issue.record(Comment(rawValue: mistake.text), sourceLocation: mistake.at ?? test.sourceLocation)
        }
    }

    /// The failure's text: by how much, the limit, what was measured, and the figures around it.
    static func overrun(_ budget: MemoryLimitTrait.Budget, value: Int, scope: HeapScope.Measurement) -> String {
        let totals = scope.totals
        if budget.figure == .leaks, let leaks = try? scope.leaks?.get() {
            let tolerance = budget.limit > 0 ? " (more than the \(Quantity.bytes(budget.limit)) tolerated)" : ""
            return "\(Quantity.bytes(leaks.bytes)) leaked in \(plural(leaks.blocks, "block"))\(tolerance): allocated by "
                + "the test, still allocated at its end, and nothing in the process points to them (a retain cycle, "
                + "or a lost pointer)"
        }
        let over = value - budget.limit
        let percent = Quantity.share(over, of: budget.limit)
        let text =
            budget.figure.isBytes
            ? "+\(Quantity.bytes(over)) (\(percent)) over the \(budget.figure.limitName) of \(Quantity.bytes(budget.limit)): "
                + Quantity.bytes(value)
            : "+\(Quantity.count(over)) (\(percent)) over the \(budget.figure.limitName) of \(Quantity.count(budget.limit)): "
                + Quantity.count(value)
        return text + " — the test's heap: peak \(Quantity.bytes(totals.peakBytes)), "
            + "\(plural(totals.allocations, "allocation")) of \(Quantity.bytes(totals.bytesAllocated)), "
            + "\(Quantity.bytes(totals.bytesNotFreed)) in \(plural(totals.blocksNotFreed, "block")) not freed"
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
            Issue.record(
                Comment(
                    rawValue: "cannot write the memory report to \(TerminalText.escaped(path)) (\(Self.reportVariable)): "
                        + error.message))
        }
    }
}

/// `1 block`, `2 blocks`, `1,024 blocks`.
func plural(_ count: Int, _ noun: String) -> String {
    "\(Quantity.count(count)) \(noun)\(count == 1 ? "" : "s")"
}
