import Foundation
@testable import MemoryProfiler
import MemoryProfilerSystem
import MemoryProfilerTestSupport
import Synchronization
import Testing

/// The follower writes a capture's stored form while the program runs: what it writes is, byte for byte, what the
/// same capture read after the run gives, for programs that end normally, that are killed, and with threads; and it
/// gives up, leaving the capture to be read after the run, where it cannot follow (an exec).
@Suite(.serialized)
struct HeapCaptureFollowerTests {
    static var hook: String { BuiltProducts.path("libmprof-heap-hook.so") }
    static var workload: String { BuiltProducts.path("heap-workload") }

    static func directory() throws -> String {
        let path = NSTemporaryDirectory() + "follower-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        return path
    }

    /// The stored form of the capture at `path`, read after the run.
    static func transcribed(_ path: String) throws -> [UInt8] {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        return try bytes.withUnsafeBufferPointer { buffer in
            var reader = HeapCaptureReader(transcribing: buffer)
            _ = try reader.replay()
            return try #require(reader.transcript)
        }
    }

    @Test(arguments: [
        ["mixed", "300000"], ["threads", "4", "20000", "48"], ["known-sites", "2000", "100", "3000", "50"],
    ])
    func whatItWritesIsWhatTheCaptureReadsTo(_ arguments: [String]) throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.workload), "\(Self.workload) is missing: build with `swift build`")
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/run.heap", copy = "\(directory)/copy.heap"
        let follower = try #require(HeapCaptureFollower(path: path))
        let run = try runCommand(Self.workload, arguments, environment: ["LD_PRELOAD": Self.hook, "MPROF_HEAP_OUTPUT": path])
        try #require(run.status == 0, "\(run.standardError)")
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        let followed = try #require(follower.finish(), "the follower gave up")
        #expect(followed.stored.records == (try Self.transcribed(copy)), "\(arguments)")
        #expect(followed.capture.summary.finishedNormally && followed.capture.summary.reachabilityScanned)

        // Stored with the follower and without: the same capture. (Not the same bytes: the follower compressed it
        // a piece at a time, and a repeat it found ends where a piece did.)
        try HeapSymbolizer().storeNames(inCaptureAt: path, following: follower)
        try HeapSymbolizer().storeNames(inCaptureAt: copy)
        let ours = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let theirs = try [UInt8](Data(contentsOf: URL(fileURLWithPath: copy)))
        #expect(try CaptureCompression.decompress(ours) == (try CaptureCompression.decompress(theirs)), "\(arguments)")
        // Compressed in pieces, it is no more than a little larger.
        #expect(Double(ours.count) <= Double(theirs.count) * 1.05 + 1024, "\(arguments): \(ours.count) and \(theirs.count) bytes")
    }

    /// Killed while it allocates: the follower ends at the last whole record, as a reading after the run does.
    @Test func aKilledProgramsCaptureEndsWhereItsRecordsEnd() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/run.heap", copy = "\(directory)/copy.heap"
        let follower = try #require(HeapCaptureFollower(path: path))
        // The hook in the workload, not in timeout (the first process to start records).
        let run = try runCommand(
            "timeout", ["-s", "KILL", "1", "env", "LD_PRELOAD=\(Self.hook)", "MPROF_HEAP_OUTPUT=\(path)", Self.workload, "churn-only", "500000000"])
        #expect(run.status == 137, "\(run.standardError)")
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        let followed = try #require(follower.finish(), "the follower gave up")
        #expect(!followed.capture.summary.finishedNormally)
        let after = try Self.transcribed(copy)
        #expect(after.count > 100_000, "\(after.count) bytes")
        #expect(followed.stored.records == after)
    }

    /// A program that execs may start its capture again from the file's start: the follower gives up, and the
    /// capture is read after the run. (The shell allocates, and waits for `sleep`, before its exec: the follower
    /// has read its records by then.)
    @Test func anExecIsNotFollowed() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/run.heap"
        let follower = try #require(HeapCaptureFollower(path: path))
        let run = try runCommand(
            "/bin/sh", ["-c", "sleep 0.3; exec \(Self.workload) mixed 1000"],
            environment: ["LD_PRELOAD": Self.hook, "MPROF_HEAP_OUTPUT": path])
        try #require(run.status == 0, "\(run.standardError)")
        #expect(follower.finish() == nil)
        try HeapSymbolizer().storeNames(inCaptureAt: path, following: follower)
        let capture = try HeapCapture(path: path)
        #expect(capture.summary.allocations >= 1000 && capture.summary.finishedNormally, "\(capture.summary)")
    }

    /// The follower's thread runs at nice 19 while the program runs and gets the nice value it had back (not 0: a
    /// user who ran `nice -n 5 mprof` keeps 5), and only where that can be done; a thread already at 19 is left.
    @Test func aLoweredThreadGetsTheNiceValueItHadBack() throws {
        let observed = Mutex<[String]>([])
        let thread = try DedicatedThread.start {
            // Linux keeps a nice value per thread; PRIO_PROCESS with 0 reads and sets the calling thread's.
            func nice() -> Int32 { getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) }
            guard setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 5) == 0 else {
                observed.withLock { $0.append("cannot set nice 5: errno \(errno)") }
                return
            }
            guard let lowered = DedicatedThread.lowerPriority() else {
                // Unprivileged without an RLIMIT_NICE that allows going back to 5: left as it was.
                observed.withLock { $0.append("not lowered, nice \(nice())") }
                return
            }
            let whileLowered = nice()
            let restored = lowered.restore()
            observed.withLock { $0.append("lowered \(lowered.previous) \(whileLowered) \(restored) \(nice())") }
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
            observed.withLock { $0.append(DedicatedThread.lowerPriority() == nil ? "19 left" : "19 lowered") }
        }
        thread.join()
        let lines = observed.withLock { $0 }
        if lines.first?.hasPrefix("not lowered") == true {
            print("aLoweredThreadGetsTheNiceValueItHadBack: this process may not go back from nice 19, so only that the priority is left is checked")
            #expect(lines == ["not lowered, nice 5"])
        } else {
            #expect(lines == ["lowered 5 19 true 5", "19 left"])
        }
    }
    /// The pre-namer names addresses while the program runs, through the follower's reader (event captures) or a
    /// reader of its own (aggregate captures), and what it hands to naming gives the very names a run of
    /// llvm-symbolizer after the program gives.
    @Test(arguments: [false, true])
    func namesFoundWhileTheProgramRunsAreTheNamesFoundAfter(aggregate: Bool) throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/run.heap"
        func run(_ prenamer: HeapPreNamer) throws -> HeapCaptureFollower? {
            unlink(path)
            var follower: HeapCaptureFollower?
            if !aggregate {
                follower = HeapCaptureFollower(path: path, prenamer: prenamer)
                try #require(follower != nil, "no thread for the follower")
            }
            let result = try runCommand(
                Self.workload, ["known-sites", "20000", "100", "300000", "50"],
                environment: ["LD_PRELOAD": Self.hook, "MPROF_HEAP_OUTPUT": path, "MPROF_HEAP_AGGREGATE": aggregate ? "1" : "0"])
            try #require(result.status == 0, "\(result.standardError)")
            return follower
        }
        // Named while it ran: the pre-namer has answers before anything asks it.
        let first = try #require(HeapPreNamer(readingCaptureAt: aggregate ? path : nil))
        let firstFollower = try run(first)
        usleep(400_000)
        let (answers, live) = first.finish()
        live?.close()
        firstFollower?.cancel()
        #expect(answers.count >= 10, "\(answers.count) addresses named while the program ran")

        let second = try #require(HeapPreNamer(readingCaptureAt: aggregate ? path : nil))
        let secondFollower = try run(second)
        usleep(400_000)
        secondFollower?.cancel()
        let capture = try HeapCapture(path: path)
        let prenamed = HeapSymbolizer().symbolize(capture, usingStoredNames: false, prenamed: second)
        let after = HeapSymbolizer().symbolize(capture, usingStoredNames: false)
        #expect(prenamed.frames == after.frames)
        #expect(prenamed.typeNames == after.typeNames)
        #expect(prenamed.notes == after.notes)
        #expect(after.frames.values.contains { $0.contains { $0.function.hasPrefix("buildIndex") } }, "\(after.frames.count) frames")
    }

    /// The kept-running namer against tools that misbehave: one that answers each question with a block is read
    /// block for block; one that writes on and on without ending an answer fails within moments, its output bounded
    /// (it used to be read into memory for the two minutes of patience); one that exits at once fails at once.
    @Test func aLiveSymbolizerThatMisbehavesFailsQuickly() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Written through a close-on-exec descriptor: a program another test starts meanwhile must not inherit the
        // script open for writing, or running it fails with ETXTBSY while that program runs.
        func tool(_ name: String, _ body: String) throws -> String {
            let path = "\(directory)/\(name)"
            let descriptor = try Descriptor.open(path, .writeOnly, options: [.create, .exclusive], permissions: 0o755)
            defer { descriptor.close() }
            try descriptor.writeAll("#!/bin/sh\n\(body)\n")
            return path
        }
        let echoing = try #require(LiveSymbolizer(tool: try tool("echoing", "while read line; do echo \"$line\"; echo; done")))
        let answers = echoing.ask(["CODE /a 0x1", "CODE /b 0x2"])
        echoing.close()
        #expect(answers?.count == 2, "\(String(describing: answers))")
        #expect(answers?.first?.first == "CODE /a 0x1", "\(String(describing: answers))")

        for (name, body) in [("endless", "exec yes 'a line that never ends its answer'"), ("gone", "exit 0")] {
            let started = Clocks.monotonicNanoseconds()
            let live = try #require(LiveSymbolizer(tool: try tool(name, body)))
            let answer = live.ask(["CODE /a 0x1"])
            live.close()
            let seconds = Double(Clocks.monotonicNanoseconds() - started) / 1e9
            #expect(answer == nil, "\(name)")
            #expect(seconds < 20, "\(name): \(seconds) s")
        }
    }

    /// A read of the capture can copy a record's tag as written and one of its fields as not yet written (the
    /// kernel's copy does not order its loads): the follower trusts only what a second read agrees on, and reads
    /// the rest again. Here the file holds such a torn record, completed between the first read and the second.
    @Test func aRecordTornByTheReadIsReadAgainWhole() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/torn.heap"
        // The magic, then 'F' with the three-byte field 80 cd 01, read with its middle byte not yet there, then more.
        var bytes = Array("MPROFHP1".utf8) + [UInt8(ascii: "T"), 5, UInt8(ascii: "F"), 0x80, 0x00, 0x01, UInt8(ascii: "T"), 6]
        let torn = 12
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let capture = GrowingCapture(path: path)
        capture.betweenReads = {
            bytes[torn] = 0xcd
            try? Data(bytes).write(to: URL(fileURLWithPath: path))
            capture.betweenReads = nil
        }
        let first = try #require(capture.wait(from: 0) { $0.count > 0 })
        #expect(first.count == torn, "\(first.count) bytes trusted, the torn byte is at \(torn)")
        let second = try #require(capture.wait(from: torn) { $0.count > torn })
        #expect(Array(second) == bytes)
    }
    /// An aggregate capture's counters change under the names reader, which must not wait for them to read the same
    /// twice: a program that allocates steadily has its addresses named while it runs (the reader once stalled at
    /// the totals, and named nothing before the end).
    @Test func aBusyAggregateCapturesNamesAreFoundWhileItRuns() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/busy.heap"
        let prenamer = try #require(HeapPreNamer(readingCaptureAt: path))
        let child = try ChildProcess.spawn(
            Self.workload, arguments: ["known-sites", "20000", "100", "400000000", "50"],
            environment: ["LD_PRELOAD": Self.hook, "MPROF_HEAP_OUTPUT": path, "MPROF_HEAP_AGGREGATE": "1"],
            standardInput: .null, standardOutput: .null, standardError: .null)
        usleep(2_500_000)
        let (answers, live) = prenamer.finish()
        live?.close()
        kill(child.pid, SIGKILL)
        _ = try child.wait()
        #expect(answers.count >= 10, "\(answers.count) addresses named while the program ran")
    }
}
