import Foundation
import MemoryProfiler
import MemoryProfilerSystem
import MemoryProfilerTestSupport
import Testing

/// `mprof run` and `mprof attach` on real programs: the built `mprof` runs `memory-workload`, which the test
/// drives through mprof's standard input and output.
@Suite struct RunCommandTests {
    @Test func recordsAProgramThatAllocatesInStepsAndPassesOnItsExitStatus() throws {
        let file = temporaryFile("dat")
        let errors = temporaryFile("txt")
        defer { remove(file, errors) }
        let workload = try Workload(wrappedBy: "mprof", ["run", "-T", "0.01", "-o", file, "--"], errors: errors)
        for _ in 0..<4 {
            #expect(try workload.send("alloc 50") == "ok")
            usleep(50_000)
        }
        _ = try? workload.send("exit 3")
        let termination = try workload.finish()
        #expect(termination == .exited(3))

        let recorded = try MprofFile(path: file)
        #expect(recorded.commandLine?.hasSuffix("/memory-workload") == true)
        #expect(recorded.reader == "rss")
        #expect(recorded.samples.count >= 15)
        let peak = try #require(recorded.peak())
        #expect(peak.mebibytes >= 200)
        #expect(peak.mebibytes < 260)
        let times = recorded.samples.map(\.wallClock)
        #expect(times == times.sorted())
        let stderr = try String(contentsOfFile: errors, encoding: .utf8)
        #expect(stderr.contains("mprof: Sampling memory every 0.01s"))
        #expect(stderr.contains("exited with status 3"))
    }

    @Test func aProgramKilledBySIGSEGVLeavesACompleteFileAndAMessage() throws {
        let file = temporaryFile("dat")
        let errors = temporaryFile("txt")
        defer { remove(file, errors) }
        let workload = try Workload(wrappedBy: "mprof", ["run", "-T", "0.01", "-o", file], errors: errors)
        #expect(try workload.send("alloc 64") == "ok")
        usleep(100_000)
        _ = try? workload.send("segv")
        #expect(try workload.finish() == .exited(128 + SIGSEGV))
        let stderr = try String(contentsOfFile: errors, encoding: .utf8)
        #expect(stderr.contains("was killed by SIGSEGV"))
        #expect(try #require(MprofFile(path: file).peak()).mebibytes >= 64)
    }

    @Test func signalsSentToMprofReachTheProgramAndMprofOutlivesIt() throws {
        let file = temporaryFile("dat")
        let errors = temporaryFile("txt")
        defer { remove(file, errors) }
        let workload = try Workload(wrappedBy: "mprof", ["run", "-o", file], errors: errors)
        #expect(try workload.send("ignore-sigint") == "ok")
        kill(workload.id.rawValue, SIGINT)
        usleep(100_000)
        // The program ignored it, and mprof is still there, passing commands on.
        #expect(try workload.send("alloc 1") == "ok")
        kill(workload.id.rawValue, SIGTERM)
        // Wait with the program's input still open: closing it first would let it end on its own.
        #expect(try workload.process.wait() == .exited(128 + SIGTERM))
        let stderr = try String(contentsOfFile: errors, encoding: .utf8)
        #expect(stderr.contains("was killed by SIGTERM"))
    }

    @Test func killingMprofWithSIGKILLLeavesAValidFile() throws {
        let file = temporaryFile("dat")
        let errors = temporaryFile("txt")
        defer { remove(file, errors) }
        let workload = try Workload(wrappedBy: "mprof", ["run", "-T", "0.01", "-o", file], errors: errors)
        #expect(try workload.send("alloc 40") == "ok")
        usleep(200_000)
        kill(workload.id.rawValue, SIGKILL)
        #expect(try workload.finish() == .signaled(SIGKILL))
        let recorded = try MprofFile(path: file)
        #expect(recorded.samples.count >= 10)
        #expect(try #require(recorded.peak()).mebibytes >= 40)
        // The last line is whole: every record was written in one piece.
        #expect(try String(contentsOfFile: file, encoding: .utf8).hasSuffix("\n"))
    }

    @Test func multiprocessRecordsEveryChildForkedFromTwoThreads() throws {
        let file = temporaryFile("dat")
        let errors = temporaryFile("txt")
        defer { remove(file, errors) }
        let workload = try Workload(wrappedBy: "mprof", ["run", "-M", "-C", "-T", "0.02", "-o", file], errors: errors)
        let answer = try workload.send("spawn 2 24").split(separator: " ")
        #expect(answer.first == "ok")
        let children = Set(answer.dropFirst().compactMap { Int32($0) })
        #expect(children.count == 4)
        usleep(300_000)
        _ = try? workload.send("exit 0")
        #expect(try workload.finish() == .exited(0))

        let recorded = try MprofFile(path: file)
        let recordedChildren = Set(recorded.children.map(\.process.rawValue))
        #expect(children.isSubset(of: recordedChildren))
        for series in recorded.children where children.contains(series.process.rawValue) {
            #expect((series.samples.map(\.mebibytes).max() ?? 0) >= 24)
        }
        // -C: the main series holds the children's memory too.
        #expect(try #require(recorded.peak()).mebibytes >= 4 * 24)
        #expect(recorded.intervalPeaks.isEmpty)

        let peak = try runProduct("mprof", ["peak", file])
        #expect(peak.status == 0)
        for child in children { #expect(peak.standardOutput.contains("  Child \(child)\t\t\t")) }
    }

    @Test func programsUsingTheLibraryAddTheirFunctionRecords() throws {
        let file = temporaryFile("dat")
        defer { remove(file) }
        let result = try runProduct(
            "mprof", ["run", "-T", "0.005", "-o", file, BuiltProducts.path("line-workload"), "grow"])
        #expect(result.status == 0, "\(result.standardError)")
        let recorded = try MprofFile(path: file)
        let grow = try #require(recorded.functions.first { $0.name == "grow()" })
        #expect(grow.level == 0)
        #expect(try #require(recorded.peak(function: "grow()")).mebibytes >= 190)
    }

    @Test func aShortSpikeBeforeExitIsStillThePeak() throws {
        // Allocates 150 MiB and exits at once: no sample sees it; the kernel's count at exit does.
        let file = temporaryFile("dat")
        defer { remove(file) }
        let result = try runProduct(
            "mprof", ["run", "-o", file, "--", BuiltProducts.path("memory-workload"), "hold", "150", "--exit"])
        #expect(result.status == 0, "\(result.standardError)")
        let peak = try #require(MprofFile(path: file).peak())
        #expect(peak.mebibytes >= 150)
        #expect(result.standardError.contains("mprof: peak"))
    }

    @Test func theBundledExampleLeavesItsPhasesAndTheSpikeSamplingMisses() throws {
        let file = temporaryFile("dat")
        defer { remove(file) }
        let result = try runProduct("mprof", ["run", "-o", file, BuiltProducts.path("step-alloc")])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput == "step-alloc: done\n")
        let recorded = try MprofFile(path: file)
        #expect(recorded.functionNames == ["grow", "spike", "shrink", "main"])
        let peak = try #require(recorded.peak())
        // 200 MiB held, then 80 MiB more for 30 ms: the samples (every 100 ms) mostly miss it; the kernel's mark
        // does not.
        #expect(peak.mebibytes >= 280)
        #expect(try #require(recorded.peak(function: "spike")).mebibytes >= 280)
        #expect(try #require(recorded.peak(function: "shrink")).sampled?.mebibytes ?? .infinity < 215)
    }

    @Test func theTimeoutStopsRecordingButNotTheProgram() throws {
        let file = temporaryFile("dat")
        let errors = temporaryFile("txt")
        defer { remove(file, errors) }
        let workload = try Workload(wrappedBy: "mprof", ["run", "-T", "0.02", "-t", "0.3", "-o", file], errors: errors)
        #expect(try workload.send("alloc 8") == "ok")
        usleep(800_000)
        #expect(try workload.send("alloc 8") == "ok")
        _ = try? workload.send("exit 0")
        #expect(try workload.finish() == .exited(0))
        let times = try MprofFile(path: file).samples.map(\.wallClock)
        let span = try #require(times.last) - #require(times.first)
        #expect(span <= 0.4)
        #expect(try String(contentsOfFile: errors, encoding: .utf8).contains("recording stopped at the timeout"))
    }

    @Test func aProgramThatCannotBeRunGetsTheShellsStatus() throws {
        let missing = try runProduct("mprof", ["run", "-o", "/dev/null", "no-such-program-anywhere"])
        #expect(missing.status == 127)
        #expect(missing.standardError.contains("Error: cannot run no-such-program-anywhere: not found on PATH"))
        // An executable file the kernel cannot run (no #! line): 126, and no file left behind.
        let directory = try TemporaryDirectory()
        let script = "\(directory.path)/script"
        try "echo hello\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let noShebang = try directory.mprof(["run", script])
        #expect(noShebang.status == 126, "\(noShebang.standardError)")
        #expect(noShebang.standardError.contains("Error: cannot run \(script)"))
        #expect(try directory.files() == ["script"])
        let tooFast = try runProduct("mprof", ["run", "-T", "1e-10", "/bin/true"])
        #expect(tooFast.status != 0)
        #expect(tooFast.standardError.contains("--interval must be between 0.000001 and 3600 seconds"))
        let none = try runProduct("mprof", ["run"])
        #expect(none.status != 0)
        #expect(none.standardError.contains("A program to run must be provided"))
    }

    @Test func attachRecordsUntilTheProcessExitsAndEndsCleanly() throws {
        let target = try Workload(["hold", "32"])
        #expect(try target.readLine() == "ok")
        let file = temporaryFile("dat")
        let errors = temporaryFile("txt")
        defer { remove(file, errors) }
        let attach = try ChildProcess.spawn(
            BuiltProducts.path("mprof"), arguments: ["attach", "-T", "0.01", "-t", "30", "-o", file, "\(target.id)"],
            standardInput: .null, standardOutput: .null, standardError: .file(errors))
        usleep(300_000)
        let started = ContinuousClock.now
        try target.finish()
        #expect(try attach.wait() == .exited(0))
        #expect(ContinuousClock.now - started < .seconds(10))
        let recorded = try MprofFile(path: file)
        #expect(recorded.commandLine == "\(target.id)")
        #expect(try #require(recorded.peak()).mebibytes >= 32)
        #expect(try String(contentsOfFile: errors, encoding: .utf8).contains("exited"))
    }

    @Test func memoryProfilersSpellingsAreAccepted() throws {
        // `mprof run --attach PID` is `mprof attach PID`; -E changes nothing (the status always passes through).
        let target = try Workload(["hold", "8"])
        #expect(try target.readLine() == "ok")
        let file = temporaryFile("dat")
        defer { remove(file) }
        let attached = try runProduct("mprof", ["run", "--attach", "-T", "0.02", "-t", "0.3", "-o", file, "\(target.id)"])
        #expect(attached.status == 0, "\(attached.standardError)")
        #expect(try MprofFile(path: file).commandLine == "\(target.id)")
        #expect(attached.standardError.contains("recording stopped at the timeout"))
        let exitCode = try runProduct("mprof", ["run", "-E", "-o", "/dev/null", "sh", "-c", "exit 4"])
        #expect(exitCode.status == 4)
    }

    @Test func ctrlCEndsAnAttachWithItsSummary() throws {
        let target = try Workload(["hold", "16"])
        #expect(try target.readLine() == "ok")
        let file = temporaryFile("dat")
        let errors = temporaryFile("txt")
        defer { remove(file, errors) }
        let attach = try ChildProcess.spawn(
            BuiltProducts.path("mprof"), arguments: ["attach", "-T", "0.01", "-o", file, "\(target.id)"],
            standardInput: .null, standardOutput: .null, standardError: .file(errors))
        usleep(400_000)
        kill(attach.id.rawValue, SIGINT)
        #expect(try attach.wait() == .exited(0))
        let stderr = try String(contentsOfFile: errors, encoding: .utf8)
        #expect(stderr.contains("mprof: recording stopped"))
        #expect(stderr.contains("mprof: peak "))
        #expect(try #require(MprofFile(path: file).peak()).mebibytes >= 16)
    }

    @Test func twoRunsStartedInTheSameSecondGetFilesOfTheirOwn() throws {
        let directory = try TemporaryDirectory()
        #expect(try directory.mprof(["run", "/bin/true"]).status == 0)
        #expect(try directory.mprof(["run", "/bin/true"]).status == 0)
        let files = try directory.files()
        #expect(files.count == 2)
        #expect(files.allSatisfy { $0.hasPrefix("mprofile_") && $0.hasSuffix(".dat") })
    }

    @Test func attachByAnAmbiguousNameListsTheCandidates() throws {
        let first = try Workload(["hold", "1"])
        let second = try Workload(["hold", "1"])
        #expect(try first.readLine() == "ok")
        #expect(try second.readLine() == "ok")
        let result = try runProduct("mprof", ["attach", "-o", "/dev/null", "memory-workload"])
        #expect(result.status != 0)
        #expect(result.standardError.contains("processes are named memory-workload; attach to one by PID"))
        #expect(result.standardError.contains("\(first.id)\t"))
        #expect(result.standardError.contains("\(second.id)\t"))

        let unknown = try runProduct("mprof", ["attach", "-o", "/dev/null", "no-process-has-this-name"])
        #expect(unknown.status != 0)
        #expect(unknown.standardError.contains("Error: no process named no-process-has-this-name"))
    }
}

func temporaryFile(_ suffix: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("mprof-test-\(UUID().uuidString).\(suffix)").path
}

func remove(_ paths: String...) {
    for path in paths { try? FileManager.default.removeItem(atPath: path) }
}
