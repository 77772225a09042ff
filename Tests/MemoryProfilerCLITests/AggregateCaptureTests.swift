import Foundation
@testable import MemoryProfiler
import MemoryProfilerSystem
import MemoryProfilerTestSupport
import Testing

/// The aggregate capture (`mprof run --heap --aggregate`, MPROF_HEAP_AGGREGATE=1): counters per allocation site in
/// place of every event. The witness is the event capture of the same program: every figure and every view must be
/// the same, while the file stays the same size however many allocations are made, and a killed program's file
/// still reads.
@Suite(.serialized)
struct AggregateCaptureTests {
    static var hook: String { BuiltProducts.path("libmprof-heap-hook.so") }
    static var workload: String { BuiltProducts.path("heap-workload") }

    /// Runs `program` under the hook directly, into `path`, aggregated or not, and reads the capture.
    static func capture(
        _ program: String, _ arguments: [String], into path: String, aggregate: Bool
    ) throws -> HeapCapture {
        let run = try runCommand(
            program, arguments,
            environment: ["LD_PRELOAD": hook, "MPROF_HEAP_OUTPUT": path, "MPROF_HEAP_AGGREGATE": aggregate ? "1" : "0"])
        try #require(run.status == 0, "\(program) \(arguments): \(run.standardError)")
        return try HeapCapture(path: path)
    }

    /// Single-threaded programs (their events come in the same order every run): the summary and every view's
    /// stacks, bytes and counts agree exactly with the event capture's. The C program makes every kind of event: a
    /// failed realloc (restore), frees of blocks the capture never saw, blocks allocated over, leaks, temporaries.
    ///
    /// "ping-pong": a thread frees the block main allocated and is given the same address again, which main then
    /// frees with nothing in between: no temporary (main's last allocation was another), though the address is
    /// the one main last allocated.
    @Test(arguments: [["known-sites", "2000", "100", "3000", "50"], ["mixed", "200000"], ["every-event"], ["ping-pong"]])
    func everyFigureAgreesWithTheEventCapture(_ arguments: [String]) throws {
        let directory = try TemporaryDirectory()
        let program: String
        switch arguments[0] {
        case "every-event": program = try HeapProfilingTests.compile(HeapProfilingTests.everyEventC, named: "every-event", in: directory)
        case "ping-pong": program = try HeapProfilingTests.compile(Self.pingPongC, named: "ping-pong", in: directory)
        default: program = Self.workload
        }
        let programArguments = program == Self.workload ? arguments : []
        let events = try Self.capture(program, programArguments, into: "\(directory.path)/events.heap", aggregate: false)
        let counters = try Self.capture(program, programArguments, into: "\(directory.path)/counters.heap", aggregate: true)
        #expect(!events.isAggregate && counters.isAggregate)
        #expect(counters.allocationCount == 0)
        var expected = events.summary, actual = counters.summary
        // When is each run's own: the two runs' clocks differ.
        expected.peakTime = 0
        actual.peakTime = 0
        expected.duration = 0
        actual.duration = 0
        expected.exitWorkStarted = nil
        actual.exitWorkStarted = nil
        expected.residentPeakBeforeExit = nil
        actual.residentPeakBeforeExit = nil
        // The hook's own tables: the aggregate mode's hold the live blocks (see thePeakSaysHowMuchWasTheHooksTable).
        expected.hookTablesAtExit = nil
        actual.hookTablesAtExit = nil
        // The C program's threads allocate while main does: its peak differs from run to run in either mode.
        let peakIsTheRuns = arguments == ["every-event"]
        if peakIsTheRuns { actual.peakBytes = expected.peakBytes }
        #expect(actual == expected)
        #expect(events.summary.allocations > (arguments[0] == "ping-pong" ? 200 : 1000), "\(events.summary)")
        #expect(events.summary.finishedNormally && events.summary.reachabilityScanned)

        let symbols = HeapSymbolizer().symbolize(events)
        let eventProfile = HeapProfile(events, symbols: symbols)
        let counterProfile = HeapProfile(counters, symbols: HeapSymbolizer().symbolize(counters))
        for view in HeapProfile.View.allCases where !(peakIsTheRuns && view == .peak) {
            #expect(counterProfile.collapsedStacks(view) == eventProfile.collapsedStacks(view), "\(view) of \(arguments)")
            #expect(counterProfile.total(view) == eventProfile.total(view), "\(view) of \(arguments)")
        }
        #expect(counterProfile.sizeHistogram == eventProfile.sizeHistogram)
        // The heap over time: the aggregate capture's points are its 10 ms levels; its peak point is the peak.
        #expect(counters.heapTimeline.map(\.bytes).max() == counters.summary.peakBytes)
        #expect(counters.heapTimeline.last?.bytes == counters.summary.bytesNotFreed)
        // Levels between points, never a fall to nothing (the reader once drew one before every point).
        if arguments[0] == "known-sites" {
            let afterStart = counters.heapTimeline.drop { $0.bytes == 0 }
            #expect(afterStart.allSatisfy { $0.bytes > 0 }, "\(counters.heapTimeline.map(\.bytes))")
        }
    }

    /// Main allocates a block and hands it to a thread, which frees it and allocates the same size (glibc gives it
    /// the same address); main frees that. A hundred times, strictly in turn (a spin on a flag: nothing allocated
    /// in between).
    static let pingPongC = HeapProfilingTests.fixture("ping-pong")

    /// Two million allocations and twenty thousand leave files of about the same few kilobytes (the event capture of
    /// the larger grows by megabytes), and the counts are exact: heap-workload churn-only makes N allocations and
    /// frees of its own, each freed right away.
    /// The aggregate mode keeps a table of the live blocks in the program's process (about 32 bytes a block live at
    /// once), which the kernel counts in its resident set: `mprof run` says how much the hook's tables held at the
    /// end. The witness is the program's own peak without the hook (`/usr/bin/time`): the peak less the tables is no
    /// more than it (the table at the end is the largest it was but for a moment of growth), and the peak no less;
    /// the tables are about what 1.5 million entries take.
    @Test func thePeakSaysHowMuchWasTheHooksTable() throws {
        let directory = try TemporaryDirectory()
        let program = try HeapProfilingTests.compile(fixture: "keeps-blocks", in: directory)
        let plain = try runCommand("/usr/bin/time", ["-f", "%M", program])
        let plainKiB = try #require(plain.standardError.split(whereSeparator: \.isNewline).last.flatMap { Int($0) })
        let run = try runCommand(BuiltProducts.path("mprof"), ["run", "--heap", "--aggregate", "-o", "\(directory.path)/a.dat", program])
        try #require(run.status == 0, "\(run.standardError)")
        func mebibytes(_ pattern: Regex<(Substring, Substring, Substring)>) -> Double? {
            guard let match = run.standardError.firstMatch(of: pattern), let value = Double(match.1) else { return nil }
            switch match.2 { case "KiB": return value / 1024; case "GiB": return value * 1024; default: return value }
        }
        let peak = try #require(mebibytes(/peak ([0-9.]+) (KiB|MiB|GiB)/), "\(run.standardError)")
        let tables = try #require(
            mebibytes(/the heap hook's own tables held ([0-9.]+) (KiB|MiB|GiB) of the program's resident memory/),
            "\(run.standardError)")
        let own = Double(plainKiB) / 1024
        // 1.5 million entries at 24 bytes, the table at most three quarters full: 34–48 MiB, and the stack tables.
        #expect(tables >= 30 && tables <= 60, "\(tables) MiB of tables")
        #expect(peak - tables <= own + 2, "peak \(peak) MiB less \(tables) MiB of tables, against \(own) MiB without the hook")
        #expect(peak >= own - 2, "peak \(peak) MiB against \(own) MiB without the hook")
        let capture = try HeapCapture(path: "\(directory.path)/a.heap")
        #expect(capture.summary.hookTablesAtExit.map { abs(Double($0) / 1048576 - tables) < 0.1 } == true)

        // A small program: what the line says, if anything, is resident memory, never more than the whole peak (it
        // once said mapped memory: "peak 2.4 MiB … up to 3.5 MiB of that peak was the heap hook's").
        for mode in [["--aggregate"], []] {
            let small = try runCommand(
                BuiltProducts.path("mprof"), ["run", "--heap"] + mode + ["-o", "\(directory.path)/small.dat", program, "1000"])
            try #require(small.status == 0, "\(small.standardError)")
            let errors = small.standardError
            let smallPeak = try #require(errors.firstMatch(of: /peak ([0-9.]+) MiB/).flatMap { Double($0.1) }, "\(errors)")
            if let held = errors.firstMatch(of: /own tables held ([0-9.]+) MiB/).flatMap({ Double($0.1) }) {
                #expect(held < smallPeak, "\(mode): \(errors)")
            }
        }
    }

    /// A signal handler that forks while its thread is inside the hook, and a child that goes back to what the
    /// handler interrupted (and exits soon after): the child must not finish the interrupted update of the counters
    /// in the shared file a second time. It did: the capture read as damaged ("site 0's counts contradict each
    /// other", "total 1 is out of range") on every run. The event capture is the check that the counts are the
    /// program's.
    @Test(arguments: [true, false])
    func aChildForkedInsideTheHookLeavesTheCountersAlone(aggregate: Bool) throws {
        let directory = try TemporaryDirectory()
        let program = try HeapProfilingTests.compile(fixture: "forks-in-handler", in: directory)
        let path = "\(directory.path)/run.heap"
        let run = try runCommand(
            program, [], environment: ["LD_PRELOAD": Self.hook, "MPROF_HEAP_OUTPUT": path, "MPROF_HEAP_AGGREGATE": aggregate ? "1" : "0"])
        try #require(run.status == 0, "\(run.standardError)")
        let fields = run.standardOutput.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let (count, forks) = try #require(fields.count == 2 ? (fields[0], fields[1]) : nil, "\(run.standardOutput)")
        #expect(forks >= 100, "only \(forks) forks in \(count) allocations")
        let capture = try HeapCapture(path: path)
        // The loop's blocks, and stdio's buffer for the printf.
        #expect(capture.summary.allocations >= count && capture.summary.allocations <= count + 4, "\(capture.summary) for \(count)")
        #expect(capture.summary.frees >= count && capture.summary.frees <= count + 4, "\(capture.summary) for \(count)")
    }

    @Test func theFileDoesNotGrowWithTheAllocations() throws {
        let directory = try TemporaryDirectory()
        let small = try Self.capture(Self.workload, ["churn-only", "20000"], into: "\(directory.path)/small.heap", aggregate: true)
        let large = try Self.capture(Self.workload, ["churn-only", "2000000"], into: "\(directory.path)/large.heap", aggregate: true)
        let smallSize = try FileStatus(path: "\(directory.path)/small.heap").size
        let largeSize = try FileStatus(path: "\(directory.path)/large.heap").size
        // The totals' and the sites' counters take 32 KiB each (mostly zeros: compressed after a run, the whole
        // capture is a few KiB); the stacks and modules the rest.
        #expect(largeSize < 128 << 10, "\(largeSize) bytes for 2 million allocations")
        #expect(largeSize < smallSize + 8 << 10, "\(smallSize) → \(largeSize) bytes")
        #expect(large.summary.allocations - small.summary.allocations == 2_000_000 - 20_000, "\(small.summary) \(large.summary)")
        #expect(large.summary.temporaries - small.summary.temporaries == 2_000_000 - 20_000)
        #expect(large.summary.peakBytes == small.summary.peakBytes, "churn never holds more than one block of its own")
    }

    /// SIGKILL in the middle of a run (as the OOM killer would): the counters are in the file, and it reads with
    /// every allocation up to the kill — millions of them, each freed right away.
    @Test func aKilledProgramsCaptureReadsUpToTheKill() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/killed.heap"
        let child = try ChildProcess.spawn(
            Self.workload, arguments: ["churn-only", "4000000000"],
            environment: ["LD_PRELOAD": Self.hook, "MPROF_HEAP_OUTPUT": path, "MPROF_HEAP_AGGREGATE": "1"],
            standardInput: .null, standardOutput: .null, standardError: .null)
        // Until it has made a million allocations: read as it runs (the counters are shared with the file).
        let deadline = Date().addingTimeInterval(60)
        var seen = 0
        while Date() < deadline && seen < 1_000_000 {
            usleep(100_000)
            seen = (try? HeapCapture(path: path))?.summary.allocations ?? 0
        }
        kill(child.pid, SIGKILL)
        #expect(try child.wait() == .signaled(SIGKILL))
        try #require(seen >= 1_000_000, "the program made \(seen) allocations in a minute")
        let capture = try HeapCapture(path: path)
        #expect(!capture.summary.finishedNormally)
        #expect(capture.summary.allocations >= seen, "\(capture.summary.allocations) after \(seen) were seen")
        #expect(capture.summary.temporaries >= seen - 100)
        #expect(capture.summary.frees >= capture.summary.allocations - 100)
    }

    /// Through mprof: `--aggregate` with `--heap` writes an aggregate capture whose leaks are the known ones (100
    /// lost blocks of 32 bytes from known-sites), with stored names; alone, it is refused.
    @Test func mprofRunWritesItAndMprofHeapReadsIt() throws {
        let directory = try TemporaryDirectory()
        let run = try runProduct(
            "mprof", ["run", "--heap", "--aggregate", "-o", "\(directory.path)/run.dat", Self.workload, "known-sites", "2000", "100", "3000", "50"])
        #expect(run.status == 0, "\(run.standardError)")
        let capture = try HeapCapture(path: "\(directory.path)/run.heap")
        #expect(capture.isAggregate && capture.embeddedSymbols != nil && capture.summary.finishedNormally)
        let report = try runProduct("mprof", ["heap", "\(directory.path)/run.heap", "--view", "summary", "--view", "leaks", "--top", "3"])
        #expect(report.status == 0, "\(report.standardError)")
        #expect(report.standardOutput.contains("counters per allocation site (--aggregate)"), "\(report.standardOutput)")
        #expect(report.standardOutput.contains("LEAKS") && report.standardOutput.contains("3.1 KiB"), "\(report.standardOutput)")
        let json = try runProduct("mprof", ["heap", "\(directory.path)/run.heap", "--json"])
        #expect(json.standardOutput.contains("\"isAggregate\" : true"), "\(json.standardOutput.prefix(400))")
        #expect(capture.summary.blocksLeaked == 100, "\(capture.summary)\n\(report.standardOutput)")
        let alone = try runProduct("mprof", ["run", "--aggregate", "-o", "\(directory.path)/alone.dat", "/bin/true"])
        #expect(alone.status != 0 && alone.standardError.contains("add --heap"), "\(alone.standardError)")
    }

    /// A changed byte anywhere in an aggregate capture is a clear error or a capture that reads: never a trap, never
    /// a count past what the file can hold.
    @Test func changedBytesAreErrorsOrReadable() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/counters.heap"
        _ = try Self.capture(Self.workload, ["known-sites", "200", "10", "300", "5"], into: path, aggregate: true)
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        var generator = SystemRandomNumberGenerator()
        var errors = 0
        for _ in 0..<400 {
            var bytes = original
            let index = Int.random(in: 8..<bytes.count, using: &generator)
            bytes[index] = UInt8.random(in: 0...255, using: &generator)
            do throws(MemoryError) {
                let capture = try HeapCapture(bytes: bytes)
                let profile = HeapProfile(capture, symbols: HeapSymbols(frames: [:], typeNames: [:], notes: []))
                for view in HeapProfile.View.allCases { _ = profile.total(view) }
                #expect(capture.summary.allocations <= 1 << 62 && capture.summary.peakBytes <= 1 << 62)
            } catch {
                errors += 1
                #expect(!error.message.isEmpty)
            }
        }
        print("AggregateCaptureTests: \(errors) of 400 changed captures were errors")
    }
}
