import Foundation
import MemoryProfiler
import MemoryProfilerSystem
import MemoryProfilerTestSupport
import Testing

/// Memory budgets in a user's tests (MemoryProfilerTesting), as a user meets them: `Examples/BudgetedTests`, a
/// package that depends on the profiler by path, built and tested with `swift test` under `mprof test`. Its tests
/// allocate known amounts: the budgets they keep must pass, those they break must fail with the figure, the limit
/// and the site, and each of eight tests running at once must report its own peak.
@Suite(.serialized)
struct MemoryBudgetTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized.path
    static let package = "\(root)/Examples/BudgetedTests"
    static let scratch = "\(root)/.build-budgets"
    static let mebibyte = 1 << 20

    /// Builds the client's tests (about a minute the first time: the profiler's modules in a build of their own).
    static func buildClient() throws {
        let build = try runCommand("swift", ["build", "--build-tests", "--package-path", package, "--scratch-path", scratch])
        try #require(build.status == 0, "\(build.standardOutput.suffix(3000))\(build.standardError.suffix(2000))")
    }

    /// What `swift test` said about each test: its issues' texts (the headline's comment and the lines after it),
    /// and whether it passed.
    struct Outcome {
        var issues: [String: [String]] = [:]
        var passed: Set<String> = []

        init(_ output: String) {
            let lines = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            var index = 0
            while index < lines.count {
                let line = lines[index]
                index += 1
                if line.hasPrefix("✔ Test "), let name = line.dropFirst(7).split(separator: " ").first {
                    passed.insert(String(name))
                }
                guard line.hasPrefix("✘ Test "), line.contains(" recorded an issue "),
                    let name = line.dropFirst(7).split(separator: " ").first
                else { continue }
                var text = line
                while index < lines.count, lines[index].hasPrefix("↳ ") || lines[index].hasPrefix("    ") {
                    text += "\n" + lines[index]
                    index += 1
                }
                issues[String(name), default: []].append(text)
            }
        }

        func text(of test: String) -> String { issues[test, default: []].joined(separator: "\n") }
    }

    struct ReportLine: Decodable {
        var name: String
        var keptBudgets: Bool
        var peakBytes: Int
        var bytesAllocated: Int
        var bytesNotFreed: Int
        var allocations: Int
        var untrackedAllocations: Int
    }

    @Test func budgetsPassAndFailWithTheirFiguresAndSitesAlsoInParallel() throws {
        try Self.buildClient()
        let directory = try TemporaryDirectory()
        let report = directory.path + "/report.jsonl"
        let captures = directory.path + "/captures"
        try FileManager.default.createDirectory(atPath: captures, withIntermediateDirectories: false)
        let run = try runProduct(
            "mprof", ["test", "--skip-build", "--package-path", Self.package, "--scratch-path", Self.scratch],
            environment: ["MPROF_TEST_REPORT": report, "MPROF_TEST_CAPTURES": captures])
        let output = run.standardOutput + run.standardError
        #expect(run.status != 0, "tests over their budgets fail the run")
        let outcome = Outcome(output)

        // Within their budgets: they pass (the eight parallel cases too).
        for name in [
            "holdsLessThanItsPeakLimit()", "allocatesLessThanItsLimits()", "childTasksAreCounted()", "keepsItsOwnLargerLimit()",
            "holdsItsOwnShare(step:)", "keepsItsResultInAGlobalCache()", "freesWhatItAllocates()",
        ] {
            #expect(outcome.passed.contains(name) && outcome.issues[name] == nil, "\(name): \(outcome.text(of: name))\n\(output.suffix(4000))")
        }
        // Over them: one issue each, with the measured value, the limit, by how much, and the site in the user's
        // code with its caller, the test. (By how much to the tenth of a MiB, and in percent, moves with the few
        // hundred bytes the test's own machinery allocates: the values are checked in the report below.)
        let expected: [(test: String, figure: String, site: String)] = [
            ("holdsMoreThanItsPeakLimit()", "over the peak limit of 32.0 MiB: 48.0 MiB",
             "48.0 MiB in 1 allocation: filledBuffer(bytes:) at Indexing/Indexing.swift:21 ← OverBudgets.holdsMoreThanItsPeakLimit()"),
            ("childTasksCrossTheLimit()", "over the peak limit of 40.0 MiB: 60.0 MiB",
             "60.0 MiB in 2 allocations: filledBuffer(bytes:) at Indexing/Indexing.swift:21"),
            ("leavesMoreBehindThanItsLimit()", "over the limit on memory left allocated of 1.0 MiB: 4.0 MiB",
             "4.0 MiB in 1 allocation: filledBuffer(bytes:) at Indexing/Indexing.swift:21 ← OverBudgets.leavesMoreBehindThanItsLimit()"),
            ("crossesTheSuiteLimit()", "over the peak limit of 16.0 MiB: 24.0 MiB",
             "24.0 MiB in 1 allocation: filledBuffer(bytes:) at Indexing/Indexing.swift:21 ← SuiteBudgets.crossesTheSuiteLimit()"),
            ("makesMoreAllocationsThanItsLimit()", "over the allocation count limit of 1,000: 15,",
             "Node from closure #1 in buildIndex(count:payloadBytes:) at Indexing/Indexing.swift:16"),
            ("throwsAfterCrossingTheLimit()", "+7.0 MiB (", "8.0 MiB in 1 allocation: filledBuffer(bytes:)"),
            // On the main actor, on a thread not the scope's: counted through its task.
            ("allocatesOnTheMainActor()", "over the peak limit of 512.0 KiB: 1.0 MiB",
             "1.0 MiB in 1 allocation: filledBuffer(bytes:) at Indexing/Indexing.swift:21 ← OnTheMainActor.allocatesOnTheMainActor()"),
            // A retain cycle: both objects, named by type, made where the cycle was made; the issue is at the test,
            // as `.noLeaks` is a property and knows no caller.
            ("leavesARetainCycle()", "64 B leaked in 2 blocks",
             "40 B in 1 allocation: Session from openObservedSession(name:) at Indexing/Indexing.swift:52 ← Leaks.leavesARetainCycle()"),
            ("leavesARetainCycle()", "IndexingTests.swift:114:6",
             "24 B in 1 allocation: SessionObserver from openObservedSession(name:) at Indexing/Indexing.swift:53"),
        ]
        for (test, figure, site) in expected {
            let text = outcome.text(of: test)
            #expect(text.contains(figure) && text.contains(site), "\(test):\n\(text)")
        }
        #expect(outcome.text(of: "throwsAfterCrossingTheLimit()").contains("Caught error: Failure()"), "its own error is reported too")
        // Six cycles left by six tests running at once: six leaks found, each by its own test's scan.
        let parallelLeaks = outcome.issues["leavesACycleWhileOthersRun(round:)", default: []]
        #expect(parallelLeaks.count == 6 && parallelLeaks.allSatisfy { $0.contains("64 B leaked in 2 blocks") }, "\(parallelLeaks)")
        // XCTest's assertMemory: the same figures, as XCTest failures at the call.
        #expect(output.contains("Test Case 'LegacyTests.testHoldsLessThanItsPeakLimit' passed"), "\(output.suffix(3000))")
        #expect(
            output.contains("LegacyTests.swift:13: error: LegacyTests.testHoldsMoreThanItsPeakLimit : failed - ")
                && output.contains("over the peak limit of 16.0 MiB: 24.0 MiB"), "\(output.suffix(3000))")
        #expect(
            output.contains("LegacyTests.testLeavesARetainCycle : failed - 64 B leaked in 2 blocks")
                && output.contains("Session from openObservedSession(name:) at Indexing/Indexing.swift:52 ← closure #1 in LegacyTests.testLeavesARetainCycle()"),
            "\(output.split(separator: "\n").filter { $0.contains("Legacy") || $0.hasPrefix("  ") }.joined(separator: "\n"))")
        // Limits written wrong: each fails, saying why.
        for (test, why) in [
            ("zeroLimit()", "the peak limit of 0 bytes can never be kept"),
            ("negativeLimit()", "the allocation count limit of -3 can never be kept"),
            ("absurdLimit()", "is beyond any machine"),
            ("noLimitGiven()", ".allocationLimit() names no limit"),
        ] {
            #expect(outcome.text(of: test).contains(why), "\(test): \(outcome.text(of: test))")
        }

        // The report: one line per test with a budget; each parallel test's peak is its own 20 MiB × step, within
        // 64 KiB (the test's own bookkeeping), though the eight held 720 MiB between them at once.
        let lines = try String(contentsOfFile: report, encoding: .utf8).split(separator: "\n")
            .map { try JSONDecoder().decode(ReportLine.self, from: Data($0.utf8)) }
        #expect(lines.count == 32, "\(lines.map(\.name))")
        #expect(lines.allSatisfy { $0.untrackedAllocations == 0 })
        let parallel = lines.filter { $0.name == "holdsItsOwnShare(step:)" }.map(\.peakBytes).sorted()
        #expect(parallel.count == 8)
        for (step, peak) in zip(1...8, parallel) {
            let exact = step * 20 * Self.mebibyte
            #expect(peak >= exact && peak - exact <= 64 << 10, "step \(step): peak \(peak), allocated \(exact)")
        }
        let within = try #require(lines.first { $0.name == "holdsLessThanItsPeakLimit()" })
        #expect(within.peakBytes >= 48 * Self.mebibyte && within.peakBytes - 48 * Self.mebibyte <= 64 << 10)
        #expect(within.bytesNotFreed < 64 << 10, "the buffer was freed when the test returned")
        let left = try #require(lines.first { $0.name == "leavesMoreBehindThanItsLimit()" })
        #expect(left.bytesNotFreed >= 4 * Self.mebibyte && left.bytesNotFreed - 4 * Self.mebibyte <= 64 << 10)
        let count = try #require(lines.first { $0.name == "makesMoreAllocationsThanItsLimit()" })
        // 5,000 nodes, each a Node object, its payload array and the closure's own: at least 15,000.
        #expect(count.allocations >= 15_000 && count.allocations <= 15_100, "\(count.allocations)")

        // The captures kept where MPROF_TEST_CAPTURES says (one per test process: swift test runs XCTest's tests and
        // Swift Testing's in two) read as any other.
        let kept = try FileManager.default.contentsOfDirectory(atPath: captures).filter { $0.hasSuffix(".heap") }
        #expect(kept.count == 2, "\(kept)")
        var named = 0
        for capture in kept {
            let heap = try runProduct("mprof", ["heap", "\(captures)/\(capture)", "--view", "peak"])
            #expect(heap.status == 0, "\(heap.standardError)")
            if heap.standardOutput.contains("filledBuffer(bytes:)") { named += 1 }
        }
        #expect(named == 2, "both hold the tests' buffers with their sites")
    }

    /// Without the hook every budget fails, saying how to load it: a budget never passes on a number it did not
    /// measure.
    @Test func withoutTheHookEveryBudgetFailsAndSaysHowToLoadIt() throws {
        try Self.buildClient()
        let run = try runCommand(
            "swift", ["test", "--skip-build", "--package-path", Self.package, "--scratch-path", Self.scratch, "--filter", "WithinBudgets"])
        let outcome = Outcome(run.standardOutput + run.standardError)
        #expect(run.status != 0)
        for name in ["holdsLessThanItsPeakLimit()", "allocatesLessThanItsLimits()", "childTasksAreCounted()"] {
            #expect(!outcome.passed.contains(name))
            #expect(outcome.text(of: name).contains("was not checked: the heap hook is not loaded in the test process. Run the tests with `mprof test`"), "\(name): \(outcome.text(of: name))")
        }
    }

    /// With the hook but without its table of every block (preloaded by hand, not by `mprof test`), `.noLeaks`
    /// fails saying so; the other budgets work.
    @Test func noLeaksWithoutEveryBlockTrackedSaysSo() throws {
        try Self.buildClient()
        let run = try runCommand(
            "swift", ["test", "--skip-build", "--package-path", Self.package, "--scratch-path", Self.scratch, "--filter", "Leaks"],
            environment: ["LD_PRELOAD": BuiltProducts.path("libmprof-heap-hook.so")])
        let outcome = Outcome(run.standardOutput + run.standardError)
        for name in ["leavesARetainCycle()", "keepsItsResultInAGlobalCache()", "freesWhatItAllocates()"] {
            #expect(
                outcome.text(of: name).contains("the leak limit was not checked: no leak scan: the hook does not track every block"),
                "\(name): \(outcome.text(of: name))")
        }
        #expect(!outcome.text(of: "freesWhatItAllocates()").contains("peak limit"), "its peak budget was checked, and kept")
    }

    /// `swift package mprof`, as a user of the package runs it: a product built in release with debug information,
    /// profiled, plotted, its heap named to the line; the tests run with their budgets.
    @Test func theCommandPluginProfilesAProductAndRunsTheTestsWithBudgets() throws {
        let output = "\(Self.package)/.mprof"
        defer {
            // Only what the plugin made: regular files, then the directory if empty.
            for name in (try? FileManager.default.contentsOfDirectory(atPath: output)) ?? [] where name.hasPrefix("indexer-") {
                TextFile.removeRegularFile("\(output)/\(name)")
            }
            _ = try? FileManager.default.removeItem(atPath: output)
        }
        let environment = ["MPROF": BuiltProducts.path("mprof")]
        let package = ["package", "--package-path", Self.package, "--scratch-path", Self.scratch, "--allow-writing-to-package-directory", "mprof"]
        let run = try runCommand("swift", package + ["run", "indexer", "--heap", "--max-peak", "1GiB"], environment: environment)
        #expect(run.status == 0, "\(run.standardOutput.suffix(3000))\(run.standardError.suffix(3000))")
        let made = try FileManager.default.contentsOfDirectory(atPath: output).sorted()
        let recording = try #require(made.first { $0.hasSuffix(".dat") }, "\(made)")
        let stem = String(recording.dropLast(4))
        #expect(made == [recording, stem + ".heap", stem + ".svg"], "\(made)")
        // The SVG is a plot; the heap's peak is the index (20,000 nodes of 1 KiB) and the 32 MiB buffer, named to the
        // line of Indexing.swift they were made at (a release build with debug information).
        let svg = try String(contentsOfFile: "\(output)/\(stem).svg", encoding: .utf8)
        #expect(svg.contains("<svg") && svg.contains("</svg>"))
        let capture = try HeapCapture(path: "\(output)/\(stem).heap")
        let expected = 32 * Self.mebibyte + 20_000 * 1024
        #expect(capture.summary.peakBytes >= expected && capture.summary.peakBytes <= expected + 2 * Self.mebibyte, "\(capture.summary.peakBytes)")
        let heap = try runProduct("mprof", ["heap", "\(output)/\(stem).heap", "--view", "peak"])
        #expect(heap.standardOutput.contains("32.0 MiB   60.") && heap.standardOutput.contains("filledBuffer(bytes:) at Indexing/Indexing.swift:21"), "\(heap.standardOutput.prefix(1500))")

        let test = try runCommand("swift", package + ["test", "--filter", "WithinBudgets"], environment: environment)
        #expect(test.status == 0 && test.standardOutput.contains("Test run with 3 tests in 1 suite passed"), "\(test.standardOutput.suffix(3000))\(test.standardError.suffix(2000))")
    }

    /// Where the report or the tools cannot be had: a clear failure, never a quiet pass.
    @Test func aReportThatCannotBeWrittenOrASwiftThatIsNotThereFailsClearly() throws {
        try Self.buildClient()
        let full = try runProduct(
            "mprof", ["test", "--skip-build", "--package-path", Self.package, "--scratch-path", Self.scratch, "--filter", "holdsLessThanItsPeakLimit"],
            environment: ["MPROF_TEST_REPORT": "/dev/full"])
        #expect(full.status != 0)
        #expect(
            full.standardOutput.contains("cannot write the memory report to /dev/full (MPROF_TEST_REPORT): No space left on device"),
            "\(full.standardOutput.suffix(2000))")
        let missing = try runProduct("mprof", ["test", "--swift", "/nonexistent/swift"])
        #expect(missing.status == 1 && missing.standardError.contains("cannot run /nonexistent/swift: No such file or directory"), "\(missing.standardError)")
    }
}
