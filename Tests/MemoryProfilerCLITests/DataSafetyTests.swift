import Foundation
import MemoryProfiler
import MemoryProfilerSystem
import MemoryProfilerTestSupport
import Testing

/// mprof never loses or damages a file it did not mean to touch, and never reports success for a write that
/// failed.
@Suite struct DataSafetyTests {
    @Test func rmAndCleanRefuseDirectoriesAndRemoveOnlyFilesAndLinks() throws {
        let directory = try TemporaryDirectory()
        let fileManager = FileManager.default
        try fileManager.createDirectory(atPath: "\(directory.path)/d", withIntermediateDirectories: false)
        try "x".write(toFile: "\(directory.path)/d/f", atomically: true, encoding: .utf8)
        // A directory named like a profile, and a link to a file outside that must survive.
        try fileManager.createDirectory(
            atPath: "\(directory.path)/mprofile_20261125090000.dat", withIntermediateDirectories: false)
        try "keep".write(toFile: "\(directory.path)/d/target", atomically: true, encoding: .utf8)
        try fileManager.createSymbolicLink(
            atPath: "\(directory.path)/mprofile_20261125100000.dat", withDestinationPath: "\(directory.path)/d/target")

        let rmDirectory = try directory.mprof(["rm", "d"])
        #expect(rmDirectory.status != 0)
        #expect(rmDirectory.standardError.contains("refusing to remove d: a directory"))
        #expect(fileManager.fileExists(atPath: "\(directory.path)/d/f"))

        let clean = try directory.mprof(["clean"])
        #expect(clean.status != 0, "clean must refuse the directory named like a profile")
        #expect(fileManager.fileExists(atPath: "\(directory.path)/mprofile_20261125090000.dat"))

        // The link goes, not what it points to.
        #expect(try directory.mprof(["rm", "mprofile_20261125100000.dat"]).status == 0)
        #expect(!fileManager.fileExists(atPath: "\(directory.path)/mprofile_20261125100000.dat"))
        #expect(try String(contentsOfFile: "\(directory.path)/d/target", encoding: .utf8) == "keep")
    }

    @Test func aNumberIsAnIndexEvenWhenAFileHasThatName() throws {
        let directory = try TemporaryDirectory()
        try "MEM 1.0 1\n".write(toFile: "\(directory.path)/mprofile_20261125090000.dat", atomically: true, encoding: .utf8)
        try "MEM 1.0 1\n".write(toFile: "\(directory.path)/0", atomically: true, encoding: .utf8)
        #expect(try directory.mprof(["rm", "0"]).status == 0)
        #expect(try directory.files() == ["0"])
        #expect(try directory.mprof(["rm", "./0"]).status == 0)
        #expect(try directory.files() == [])
    }

    @Test func runsStartedAtTheSameInstantNeverShareAFileNorWaitForAName() throws {
        let directory = try TemporaryDirectory()
        let mprof = BuiltProducts.path("mprof")
        // Eight runs started together, from one shell, each recording a program with a distinct argument.
        let script = (0..<8).map { "'\(mprof)' run sh -c 'sleep 0.2; : run\($0)' 2>/dev/null &" }.joined(separator: " ")
        let started = ContinuousClock.now
        let result = try runCommand("sh", ["-c", "cd '\(directory.path)' || exit 1; \(script) wait"])
        #expect(result.status == 0)
        let files = try directory.files()
        #expect(files.count == 8, "\(files)")
        for file in files {
            let recorded = try MprofFile(path: "\(directory.path)/\(file)")
            #expect(recorded.commandLineCount == 1, "\(file) holds \(recorded.commandLineCount) runs")
        }
        // The listing shows all of them, oldest first, and every index resolves.
        let list = try directory.mprof(["list"])
        #expect(list.standardOutput.split(separator: "\n").count == 8)
        // Ten runs of a program that ends at once take far less than the ten seconds a one-name-per-second rule
        // would cost.
        let loopStarted = ContinuousClock.now
        let loop = try runCommand("sh", ["-c", "cd '\(directory.path)' && for i in 1 2 3 4 5 6 7 8 9 10; do '\(mprof)' run /bin/true 2>/dev/null || exit 1; done"])
        #expect(loop.status == 0)
        #expect(ContinuousClock.now - loopStarted < .seconds(5))
        #expect(try directory.files().count == 18)
        _ = started
    }

    @Test func aClosedStandardErrorNeverReceivesTheRecording() throws {
        let directory = try TemporaryDirectory()
        let mprof = BuiltProducts.path("mprof")
        let result = try runCommand(
            "sh", ["-c", "cd '\(directory.path)' && '\(mprof)' run -o out.dat sh -c 'sleep 0.1' 2>&-; echo status=$?"])
        #expect(result.standardOutput.contains("status=0"))
        let text = try String(contentsOfFile: "\(directory.path)/out.dat", encoding: .utf8)
        #expect(!text.contains("mprof:"), "mprof's messages went into the file:\n\(text)")
        #expect(try MprofFile(path: "\(directory.path)/out.dat").samples.count >= 1)
    }

    @Test func failedWritesAreErrors() throws {
        let full = try runProduct("mprof", ["run", "-o", "/dev/full", "/bin/true"])
        #expect(full.status != 0)
        #expect(full.standardError.contains("No space left on device"))
        #expect(!full.standardError.contains("samples in /dev/full"))

        let peak = try runCommand(
            "sh", ["-c", "'\(BuiltProducts.path("mprof"))' peak '\(ProfileFilesCommandTests.samples)/step_alloc.dat' > /dev/full"])
        #expect(peak.status != 0)
        #expect(peak.standardError.contains("standard output"))
    }

    @Test func aProgramThatCannotStartLeavesAnExistingEmptyOutputFileAlone() throws {
        let directory = try TemporaryDirectory()
        #expect(FileManager.default.createFile(atPath: "\(directory.path)/mine.dat", contents: Data()))
        let result = try directory.mprof(["run", "-o", "mine.dat", "no-such-program-anywhere"])
        #expect(result.status == 127)
        #expect(FileManager.default.fileExists(atPath: "\(directory.path)/mine.dat"))
        // A file the run created itself is removed, as before.
        let created = try directory.mprof(["run", "-o", "new.dat", "./missing"])
        #expect(created.status == 127)
        #expect(!FileManager.default.fileExists(atPath: "\(directory.path)/new.dat"))
    }

    @Test func anOutputFIFOWithoutAReaderIsAnErrorNotAHang() throws {
        let directory = try TemporaryDirectory()
        #expect(mkfifo("\(directory.path)/pipe.dat", 0o644) == 0)
        let started = ContinuousClock.now
        let result = try directory.mprof(["run", "-o", "pipe.dat", "/bin/true"])
        #expect(result.status != 0)
        #expect(result.standardError.contains("a FIFO that no process is reading"), "\(result.standardError)")
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func attachToAZombieIsAnErrorWithNoFile() throws {
        let directory = try TemporaryDirectory()
        // A shell whose child exits while the shell sleeps without waiting: the child stays a zombie.
        let parent = try ChildProcess.spawn(
            "/bin/sh", arguments: ["-c", "sleep 0.2 & echo $!; exec sleep 5"], standardInput: .null, standardOutput: .pipe)
        defer {
            kill(parent.id.rawValue, SIGKILL)
            parent.closePipes()
            _ = try? parent.wait()
        }
        let pidText = try #require(Self.readLine(parent))
        let zombie = try #require(Int32(pidText))
        // The shell execs `sleep 5` at once; its background child then ends unwaited-for.
        for _ in 0..<300 where ProcessTable.state(of: zombie) != "Z" { usleep(10_000) }
        #expect(ProcessTable.state(of: zombie) == "Z")
        let result = try directory.mprof(["attach", "-o", "z.dat", "\(zombie)"])
        #expect(result.status != 0)
        #expect(result.standardError.contains("has exited"), "\(result.standardError)")
        #expect(try directory.files() == [])
    }

    @Test func aKernelThreadIsNamedAsSuchByEveryReader() throws {
        let result = try runProduct("mprof", ["readers", "--pid", "2", "--reader", "rss", "--reader", "pss", "--reader", "uss"])
        #expect(!result.standardError.contains("has exited") && !result.standardOutput.contains("has exited"))
        #expect(result.standardOutput.components(separatedBy: "kernel thread").count - 1 == 3, "\(result.standardOutput)")
    }

    @Test func noResetPeakLeavesTheTargetsHighWaterMarkAlone() throws {
        let target = try Workload()
        #expect(try target.send("alloc 48") == "ok")
        #expect(try target.send("free") == "ok")
        let before = try MemoryProbe(.peak, process: target.id).read()
        let file = temporaryFile("dat")
        defer { remove(file) }
        let result = try runProduct("mprof", ["attach", "--no-reset-peak", "-T", "0.01", "-t", "0.3", "-o", file, "\(target.id)"])
        #expect(result.status == 0, "\(result.standardError)")
        let after = try MemoryProbe(.peak, process: target.id).read()
        #expect(after.mebibytes >= 48)
        #expect(after >= before)
        try target.finish()
    }

    @Test func aRecordingInProgressCannotBeRemovedAndARemovedOneIsAnError() throws {
        let directory = try TemporaryDirectory()
        let mprof = BuiltProducts.path("mprof")
        let recording = try ChildProcess.spawn(
            "/bin/sh", arguments: ["-c", "cd '\(directory.path)' && exec '\(mprof)' run -o live.dat sleep 1.5"],
            standardInput: .null, standardOutput: .null, standardError: .null)
        for _ in 0..<100 where (try? directory.files()) != ["live.dat"] { usleep(10_000) }
        usleep(200_000)
        let rm = try directory.mprof(["rm", "live.dat"])
        #expect(rm.status != 0)
        #expect(rm.standardError.contains("a recording is writing to it"), "\(rm.standardError)")
        #expect(try directory.mprof(["clean"]).status == 0, "live.dat is not a default name: clean leaves it")
        #expect(try directory.files() == ["live.dat"])
        #expect(try recording.wait() == .exited(0))

        // Removed behind mprof's back (plain rm): the run says the samples are lost, and fails.
        let removed = try runCommand(
            "sh", ["-c", "cd '\(directory.path)' && ('\(mprof)' run -o gone.dat sleep 0.8 & sleep 0.3; rm gone.dat; wait $!)"])
        #expect(removed.status != 0)
        #expect(removed.standardError.contains("was removed while it was being recorded"), "\(removed.standardError)")
    }

    @Test func aProgramThatCannotStartAddsNothingToAnExistingFile() throws {
        let directory = try TemporaryDirectory()
        let existing = "CMDLINE earlier run\nMEM 1.000000 100.0000\n"
        try existing.write(toFile: "\(directory.path)/e.dat", atomically: true, encoding: .utf8)
        // Programs written by a child process, so that no descriptor of this test process holds them open for
        // writing when they are run (exec would fail with ETXTBSY instead).
        let made = try runCommand(
            "sh", ["-c", "cd '\(directory.path)' && printf '\\177ELF\\000\\001\\002' > noexec.bin && "
                + "printf '#!/no/such/interpreter\\necho hi\\n' > badshebang && chmod 755 noexec.bin badshebang"])
        try #require(made.status == 0, "\(made.standardError)")
        for program in ["./noexec.bin", "./badshebang"] {
            let result = try directory.mprof(["run", "-o", "e.dat", program])
            #expect(result.status == 126 || result.status == 127, "\(program): \(result.standardError)")
            #expect(result.standardError.components(separatedBy: "cannot run").count == 2, "said once: \(result.standardError)")
        }
        let shebang = try directory.mprof(["run", "-o", "e.dat", "./badshebang"])
        #expect(shebang.standardError.contains("its interpreter /no/such/interpreter (the #! line) was not found"))
        #expect(try String(contentsOfFile: "\(directory.path)/e.dat", encoding: .utf8) == existing)

        // The program itself as the -o file: it cannot be run while open for writing, and is left unchanged.
        // Copied by cp in a process of its own (a descriptor held here could be inherited by other tests' children).
        #expect(try runCommand("cp", ["/bin/true", "\(directory.path)/mytrue"]).status == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: "\(directory.path)/mytrue"))
        let busy = try directory.mprof(["run", "-o", "./mytrue", "./mytrue"])
        #expect(busy.status == 126)
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(directory.path)/mytrue")) == before)
    }

    @Test func argumentsAndEnvironmentReachTheProgramByteForByte() throws {
        let directory = try TemporaryDirectory()
        let mprof = BuiltProducts.path("mprof")
        // A file name and environment variables that are not UTF-8.
        let file = try runCommand(
            "bash", ["-c", "cd '\(directory.path)' && printf x > $'caf\\xe9.txt' && '\(mprof)' run -o r.dat cat $'caf\\xe9.txt'"])
        #expect(file.status == 0, "\(file.standardError)")
        #expect(file.standardOutput == "x")
        let environment = try runCommand(
            "bash", ["-c", "cd '\(directory.path)' && env $'Y\\xff=1' X=$'\\xfe' '\(mprof)' run -o r.dat env "
                + "| LC_ALL=C grep -a '^[XY]' | LC_ALL=C sort | od -An -tx1 | tr -d ' \\n'"])
        #expect(environment.standardOutput == "583dfe0a59ff3d310a", "X=\\xfe and Y\\xff=1, unchanged")
        // MPROF_OUTPUT_FILE names the recording even from a directory whose name is not UTF-8.
        let output = try runCommand(
            "bash", ["-c", "cd '\(directory.path)' && mkdir $'d\\xfe' && cd $'d\\xfe' && '\(mprof)' run -o r.dat "
                + "sh -c 'test -f \"$MPROF_OUTPUT_FILE\" && echo found'"])
        #expect(output.standardOutput == "found\n", "\(output.standardError)")
        // mprof's own file names must be UTF-8: another byte is an error, not a different file.
        let name = try runCommand("bash", ["-c", "cd '\(directory.path)' && '\(mprof)' run -o $'r\\xff.dat' /bin/true"])
        #expect(name.status != 0)
        #expect(name.standardError.contains("is not UTF-8"))
        #expect(!(try directory.files()).contains("r\u{FFFD}.dat"))
    }

    @Test func aCommandLineLongerThanALineIsCutAndTheFileStillReads() throws {
        let file = temporaryFile("dat")
        defer { remove(file) }
        let long = String(repeating: "a", count: 100_000)
        let result = try runProduct("mprof", ["run", "-o", file, "/bin/true"] + Array(repeating: long, count: 15))
        #expect(result.status == 0, "\(result.standardError)")
        let recorded = try MprofFile(path: file)
        let commandLine = try #require(recorded.commandLine)
        #expect(commandLine.utf8.count < 300_000)
        #expect(commandLine.hasSuffix("more bytes)"))
    }

    @Test func aFailingPSIsAnErrorAndLeavesNoFile() throws {
        let directory = try TemporaryDirectory()
        let fake = "\(directory.path)/bin"
        try FileManager.default.createDirectory(atPath: fake, withIntermediateDirectories: true)
        let cases: [(script: String, says: String)] = [
            ("echo 'ps: unrecognized option: p' >&2; exit 1", "printed no resident set size"),
            ("echo 99999999999999999999999", "printed no resident set size"),
            ("echo 2166051676159999", "more than any machine has"),
        ]
        for (script, says) in cases {
            // Written by a child process: a descriptor open for writing in this (multi-threaded) test process
            // could be inherited by another test's spawn and make exec fail with ETXTBSY.
            let written = try runCommand(
                "sh", ["-c", "printf '#!/bin/sh\\n%s\\n' \"$1\" > \"$2\" && chmod 755 \"$2\"", "sh", script, "\(fake)/ps"])
            try #require(written.status == 0, "\(written.standardError)")
            let result = try runCommand(
                "sh", ["-c", "cd '\(directory.path)' && PATH='\(fake)':$PATH exec '\(BuiltProducts.path("mprof"))' run --backend ps /bin/sleep 0.3"])
            #expect(result.status != 0, "\(script)")
            #expect(result.standardError.contains(says), "\(script): \(result.standardError)")
            #expect(try directory.files() == ["bin"], "\(script)")
        }
    }

    @Test func mprofOutlivesAClosedPipeAndPassesTheStatusOn() throws {
        let directory = try TemporaryDirectory()
        let result = try runCommand(
            "sh", ["-c", "cd '\(directory.path)' && { '\(BuiltProducts.path("mprof"))' run -o p.dat sh -c 'sleep 0.5; exit 3' 2>&1; echo $? > status; } | (sleep 0.2; head -c 10 > /dev/null)"])
        #expect(result.status == 0)
        #expect(try String(contentsOfFile: "\(directory.path)/status", encoding: .utf8) == "3\n")
    }

    @Test func attachRefusesAThreadIDAndAnEmptyName() throws {
        // This test process has threads besides its main one (the test runner's).
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")
        let thread = try #require(tasks.compactMap(Int32.init).first { $0 != getpid() }, "\(tasks)")
        let result = try runProduct("mprof", ["attach", "-o", "/dev/null", "\(thread)"])
        #expect(result.status != 0)
        #expect(result.standardError.contains("is a thread of process \(getpid())"), "\(result.standardError)")
        let empty = try runProduct("mprof", ["attach", "-o", "/dev/null", ""])
        #expect(empty.status != 0)
        #expect(empty.standardError.contains("the process name is empty"))
    }

    @Test func helpVersionAndOutputThatCannotBeWrittenFail() throws {
        let mprof = BuiltProducts.path("mprof")
        for command in ["--version", "run --help", "peak '\(ProfileFilesCommandTests.samples)/step_alloc.dat' >&-"] {
            let result = try runCommand("sh", ["-c", "'\(mprof)' \(command) > /dev/full"])
            #expect(result.status != 0, "\(command)")
        }
        let help = try runProduct("mprof", ["run", "-h"])
        #expect(help.status == 0)
        #expect(help.standardOutput.contains("Run a program and record its memory over time."))
        // Seconds are plain decimals: Swift's Double(_:) would take a hex float or nan.
        for bad in ["0x10", "nan", "inf", "1_0"] {
            let interval = try runProduct("mprof", ["run", "-o", "/dev/null", "-T", bad, "/bin/true"])
            #expect(interval.status != 0 && interval.standardError.contains("invalid for '-T <interval>'"), "\(bad)")
        }
        let count = try runProduct("mprof", ["readers", "--bench", "--count", "99999999999999"])
        #expect(count.status != 0)
        #expect(count.standardError.contains("--count must be from 1 to 10000000"))
    }

    @Test func inheritedDescriptorsReachTheProgramAndLimitsAreErrors() throws {
        let directory = try TemporaryDirectory()
        let mprof = BuiltProducts.path("mprof")
        // Descriptor 3 from mprof's parent (a make jobserver, systemd's sockets) is the program's, as without mprof.
        let inherited = try runCommand(
            "sh", ["-c", "cd '\(directory.path)' && '\(mprof)' run -o a.dat sh -c 'echo hi >&3' 3>fd3.txt && cat fd3.txt"])
        #expect(inherited.status == 0, "\(inherited.standardError)")
        #expect(inherited.standardOutput == "hi\n")
        // A file size limit: an error, no signal death, and every record in the file whole.
        let sized = try runCommand(
            "sh", ["-c", "cd '\(directory.path)' && ulimit -f 1 && '\(mprof)' run -T 0.001 -o f.dat sleep 1"])
        #expect(sized.status == 1, "\(sized.standardError)")
        #expect(sized.standardError.contains("File too large"))
        // Whole records up to the limit: MEM and FILE (each sample writes both), every one parsed.
        let limited = try MprofFile(path: "\(directory.path)/f.dat")
        #expect(limited.samples.count + limited.fileSamples.count > 10 && limited.fileSamples.count <= limited.samples.count, "\(limited.samples.count) \(limited.fileSamples.count)")
        // Too few descriptors to read the children: said, and a failing status, never a quiet undercount.
        for limit in [7, 8, 10] {
            // Descriptors 3-9 another test has open at that moment, inherited through the shell, would take numbers
            // below the limit: closed first, so that the limit is mprof's own (a full run failed so once).
            let closeInherited = (3...9).map { "exec \($0)>&-" }.joined(separator: "; ")
            let children = try runCommand(
                "sh", ["-c", "\(closeInherited); cd '\(directory.path)' && ulimit -n \(limit) && '\(mprof)' run -C -T 0.02 -o c\(limit).dat sh -c 'sleep 0.3 & sleep 0.3 & wait'"])
            #expect(children.status != 0, "ulimit -n \(limit): \(children.standardError)")
            #expect(children.standardError.contains("children not measured"), "ulimit -n \(limit): \(children.standardError)")
        }
    }

    @Test func namesAreComparedAsBytesAndRecordingsAreNotPlottedOver() throws {
        let directory = try TemporaryDirectory()
        // "café" in NFC and in NFD: two files, two answers.
        try "MEM 1.0 1795900000.0\n".write(toFile: "\(directory.path)/caf\u{E9}.dat", atomically: true, encoding: .utf8)
        try "MEM 2.0 1795900000.0\n".write(toFile: "\(directory.path)/cafe\u{301}.dat", atomically: true, encoding: .utf8)
        let peak = try directory.mprof(["peak", "caf\u{E9}.dat", "cafe\u{301}.dat"])
        #expect(peak.standardOutput.split(separator: "\n").count == 2, "\(peak.standardOutput)")
        // A picture is never written over a file a recording is writing.
        let mprof = BuiltProducts.path("mprof")
        let recording = try ChildProcess.spawn(
            "/bin/sh", arguments: ["-c", "cd '\(directory.path)' && exec '\(mprof)' run -o rec.svg sleep 1"],
            standardInput: .null, standardOutput: .null, standardError: .null)
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: "\(directory.path)/rec.svg") { usleep(10_000) }
        usleep(200_000)
        let plot = try directory.mprof(["plot", "-o", "rec.svg", "caf\u{E9}.dat"])
        #expect(plot.status != 0)
        #expect(plot.standardError.contains("a recording is writing to it"), "\(plot.standardError)")
        #expect(try recording.wait() == .exited(0))
        // `run -- -h` runs a program named -h (here: not found), while `run -h` is help.
        let dashed = try directory.mprof(["run", "--", "-h"])
        #expect(dashed.status == 127, "\(dashed.standardError)")
    }

    /// No output of mprof heap or plot is written over a recording, however the recording is named: the `.dat`
    /// given for its `.heap`, the `.heap` itself, a link to either, another spelling.
    @Test func exportsAndPicturesAreNeverWrittenOverARecording() throws {
        let directory = try TemporaryDirectory()
        let run = try directory.mprof(["run", "--heap", "-o", "run.dat", BuiltProducts.path("heap-workload"), "known-sites", "100", "100", "10", "1"])
        try #require(run.status == 0, "\(run.standardError)")
        let dat = try Data(contentsOf: URL(fileURLWithPath: "\(directory.path)/run.dat"))
        let heap = try Data(contentsOf: URL(fileURLWithPath: "\(directory.path)/run.heap"))
        try FileManager.default.createSymbolicLink(atPath: "\(directory.path)/link.svg", withDestinationPath: "run.dat")
        // Another recording mprof reads, starting with a byte order mark and a blank line (found by an adversarial
        // pass: only files starting "CMDLINE ", "MEM " or "CHLD " were recognised).
        let other = "\u{FEFF}\r\nREADER\trss\nMEM 5.0 1700000000.0\nMEM 6.0 1700000001.0\n"
        try other.write(toFile: "\(directory.path)/other.dat", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: "\(directory.path)/other.svg", withDestinationPath: "other.dat")
        let attempts: [[String]] = [
            ["heap", "run.dat", "--collapsed", "run.dat"], ["heap", "run.dat", "--pprof", "run.dat"],
            ["heap", "run.dat", "--pprof", "./run.heap"], ["heap", "run.heap", "--flame", "link.svg"],
            ["heap", "diff", "run.heap", "run.heap", "--flame", "link.svg"], ["plot", "run.dat", "-o", "link.svg"],
            ["plot", "run.dat", "-o", "other.svg"], ["heap", "run.heap", "--pprof", "other.dat"],
        ]
        for attempt in attempts {
            let result = try directory.mprof(attempt)
            #expect(result.status != 0, "\(attempt) succeeded")
            let refusal = result.standardError
            #expect(refusal.contains("it is a recording") || refusal.contains("is the input"), "\(attempt): \(refusal)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(directory.path)/run.dat")) == dat)
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(directory.path)/run.heap")) == heap)
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(directory.path)/other.dat")) == Data(other.utf8))
    }

    /// Interrupts (Ctrl-C at the terminal reaches the whole foreground group: here, SIGINT to mprof's group every
    /// 2 ms, since finishing takes only tens of milliseconds now that the capture is named and compressed as it is
    /// made) while mprof finishes a heap capture neither end mprof half-way nor kill the tools it runs: the capture
    /// gets its names and is compressed, and mprof says why it did not stop.
    @Test func interruptsWhileTheCaptureIsFinishedDoNotCutItShort() throws {
        let directory = try TemporaryDirectory()
        let program = try HeapProfilingTests.compile(fixture: "ignores-interrupts", in: directory)
        let mprof = try ChildProcess.spawn(
            "/usr/bin/setsid", arguments: [BuiltProducts.path("mprof"), "run", "--heap", "-o", "\(directory.path)/run.dat", program, "\(directory.path)/ready"],
            standardInput: .null, standardOutput: .null, standardError: .file("\(directory.path)/stderr.txt"))
        // From the moment the program ignores SIGINT (it makes the file then) until mprof has ended.
        for _ in 0..<1000 where !FileManager.default.fileExists(atPath: "\(directory.path)/ready") { usleep(5000) }
        var interrupts = 0
        while ProcessTable.state(of: mprof.pid).map({ $0 != "Z" }) ?? false, interrupts < 15000 {
            usleep(2_000)
            if kill(-mprof.pid, SIGINT) == 0 { interrupts += 1 }
        }
        let termination = try mprof.wait()
        let standardError = try String(contentsOfFile: "\(directory.path)/stderr.txt", encoding: .utf8)
        #expect(termination == .exited(0), "\(termination) after \(interrupts) interrupts: \(standardError)")
        #expect(standardError.contains("mprof is finishing its files"), "\(standardError)")
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(directory.path)/run.heap")))
        #expect(bytes.starts(with: Array("MPROFHZ2".utf8)), "the capture was not finished")
        let capture = try HeapCapture(path: "\(directory.path)/run.heap")
        #expect(capture.embeddedSymbols != nil, "no names were stored: \(standardError)")
        #expect(!standardError.contains("names were not stored"), "\(standardError)")
    }

    /// A heap run whose capture cannot be written fails before the program runs, naming the cause, and leaves
    /// nothing behind: a device as -o (/dev/full), a file system with no room (a 64 KiB tmpfs).
    @Test(.enabled(if: getuid() == 0, "mounting a tmpfs needs root"))
    func aHeapRunWhoseCaptureCannotBeWrittenFailsBeforeTheProgramRuns() throws {
        let directory = try TemporaryDirectory()
        let marker = "\(directory.path)/ran"
        let program = ["/bin/sh", "-c", "touch '\(marker)'"]
        let device = try runProduct("mprof", ["run", "--heap", "-o", "/dev/full"] + program)
        #expect(device.status != 0 && device.standardError.contains("must name a regular file"), "\(device.standardError)")
        #expect(!FileManager.default.fileExists(atPath: "/dev/full.heap"))
        // A link to a device is refused as the device is.
        try FileManager.default.createSymbolicLink(atPath: "\(directory.path)/full.dat", withDestinationPath: "/dev/full")
        let linked = try runProduct("mprof", ["run", "--heap", "-o", "\(directory.path)/full.dat"] + program)
        #expect(linked.status != 0 && linked.standardError.contains("must name a regular file"), "\(linked.standardError)")

        let tiny = "\(directory.path)/tiny"
        try FileManager.default.createDirectory(atPath: tiny, withIntermediateDirectories: false)
        let mount = try runCommand("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", tiny])
        try #require(mount.status == 0, "could not mount a tmpfs: \(mount.standardError)")
        defer { _ = try? runCommand("umount", ["-l", tiny]) }
        let full = try runProduct("mprof", ["run", "--heap", "-o", "\(tiny)/run.dat"] + program)
        #expect(full.status != 0 && full.standardError.contains("no room for the heap capture"), "\(full.standardError)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: tiny).isEmpty, "left behind in the full file system")
        #expect(!FileManager.default.fileExists(atPath: marker), "the program ran")
    }

    /// -o naming a link, to a file or to one yet to be made, is followed with --heap as without it: the recording is
    /// written through the link and the capture goes beside the name given (it was refused with --heap alone).
    @Test func aLinkAsOutputIsFollowedWithHeapAsWithout() throws {
        let directory = try TemporaryDirectory()
        let target = "\(directory.path)/target"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
        for (name, existing) in [("existing", true), ("dangling", false)] {
            // An existing recording is appended to, as Python's mprof does.
            if existing { try Data("CMDLINE earlier\n".utf8).write(to: URL(fileURLWithPath: "\(target)/\(name).dat")) }
            let link = "\(directory.path)/\(name).dat"
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "\(target)/\(name).dat")
            let run = try runProduct("mprof", ["run", "--heap", "-o", link, "/bin/sh", "-c", "exit 0"])
            #expect(run.status == 0, "\(name): \(run.standardError)")
            let recording = try String(contentsOfFile: "\(target)/\(name).dat", encoding: .utf8)
            #expect(recording.hasPrefix(existing ? "CMDLINE earlier\nCMDLINE /bin/sh" : "CMDLINE /bin/sh"), "\(name): \(recording.prefix(80))")
            #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == "\(target)/\(name).dat")
            let capture = try HeapCapture(path: "\(directory.path)/\(name).heap")
            #expect(capture.summary.allocations > 0, "\(name)")
            #expect(!FileManager.default.fileExists(atPath: "\(target)/\(name).heap"), "\(name)")
        }
    }

    /// Two heap runs started at once with the same -o: one records, the other is refused with the reason, and the
    /// refused one never removes the recording the other is writing (it did: "same.dat was removed while it was being
    /// recorded").
    @Test func twoHeapRunsWithTheSameOutputNeverLoseARecording() throws {
        let mprof = BuiltProducts.path("mprof")
        for round in 0..<3 {
            let directory = try TemporaryDirectory()
            let runs = try (0..<2).map { index in
                try ChildProcess.spawn(
                    "/bin/sh", arguments: ["-c", "cd '\(directory.path)' && exec '\(mprof)' run --heap -T 0.02 -o same.dat sleep 0.5 2>err\(index)"],
                    standardInput: .null, standardOutput: .null, standardError: .null)
            }
            let statuses = try runs.map { try $0.wait() }
            let errors = try (0..<2).map { try String(contentsOfFile: "\(directory.path)/err\($0)", encoding: .utf8) }
            #expect(statuses.contains(.exited(0)), "round \(round): \(statuses) \(errors)")
            for (status, error) in zip(statuses, errors) where status != .exited(0) {
                #expect(error.contains("same -o") || error.contains("being written by another"), "round \(round): \(error)")
            }
            let recording = try MprofFile(path: "\(directory.path)/same.dat")
            #expect(recording.samples.count >= 5, "round \(round): \(recording.samples.count) samples; \(errors)")
            #expect(try HeapCapture(path: "\(directory.path)/same.heap").summary.finishedNormally)
        }
    }

    /// The capture's name is a run's own from before its program starts until the run has finished it, not only
    /// once the program's hook has created the file: with a "hook" the loader ignores (so the program records
    /// nothing), a second run with the same -o started while the first one's program runs is refused, and the
    /// first run leaves no capture behind. (When the hook created the file, a second run that started in the
    /// instant before it passed its check, took the first run's capture for its own and rewrote it while it was
    /// being written: the first run's capture then had no end.)
    @Test func aHeapRunsCaptureIsItsOwnBeforeItsProgramRecords() throws {
        let directory = try TemporaryDirectory()
        let notALibrary = "\(directory.path)/not-a-library.so"
        try "not a library\n".write(toFile: notALibrary, atomically: true, encoding: .utf8)
        let first = try ChildProcess.spawn(
            "/bin/sh", arguments: ["-c", "cd '\(directory.path)' && exec '\(BuiltProducts.path("mprof"))' run --heap -o same.dat sleep 3 2>first"],
            environment: ["MPROF_HEAP_HOOK": notALibrary], standardInput: .null, standardOutput: .null, standardError: .null)
        // The .dat file's header is written once the program runs.
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, (try? MprofFile(path: "\(directory.path)/same.dat")) == nil { usleep(20_000) }
        try #require(FileManager.default.fileExists(atPath: "\(directory.path)/same.dat"), "the first run never started its program")

        let second = try runCommand("/bin/sh", ["-c", "cd '\(directory.path)' && exec '\(BuiltProducts.path("mprof"))' run --heap -o same.dat true"])
        #expect(second.status != 0, "the second run was not refused: \(second.standardError)")
        #expect(second.standardError.contains("being written by another"), "\(second.standardError)")

        let ending = try first.wait()
        let firstError = try String(contentsOfFile: "\(directory.path)/first", encoding: .utf8)
        #expect(ending != .exited(0), "\(firstError)")
        #expect(firstError.contains("no heap capture was written"), "\(firstError)")
        #expect(!FileManager.default.fileExists(atPath: "\(directory.path)/same.heap"), "the empty capture was left behind")
    }

    /// A recording is one run's own while it runs, whatever name a second run gives the file (a symbolic link, a
    /// hard link, a path through `..`) and with or without `--heap`: the second is refused before its program
    /// starts, so one `.dat` never interleaves two programs' samples. Afterwards, runs append as always; `/dev/null`
    /// is anyone's. (Two runs naming the file by a link and its target each took samples into it.)
    @Test func aRecordingIsOneRunsOwnUnderAnyOfItsNames() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path
        try FileManager.default.createDirectory(atPath: "\(path)/sub", withIntermediateDirectories: true)
        let first = try ChildProcess.spawn(
            BuiltProducts.path("mprof"), arguments: ["run", "-o", "\(path)/t.dat", "sleep", "3"],
            standardInput: .null, standardOutput: .null, standardError: .null)
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, (try? MprofFile(path: "\(path)/t.dat")) == nil { usleep(20_000) }
        try #require((try? MprofFile(path: "\(path)/t.dat")) != nil, "the first run never started its program")
        try FileManager.default.createSymbolicLink(atPath: "\(path)/l.dat", withDestinationPath: "t.dat")
        #expect(link("\(path)/t.dat", "\(path)/h.dat") == 0)

        let marker = "\(path)/second-program-ran"
        for (name, heap) in [("l.dat", true), ("l.dat", false), ("h.dat", false), ("sub/../t.dat", true)] {
            let second = try runProduct(
                "mprof", ["run"] + (heap ? ["--heap"] : []) + ["-o", "\(path)/\(name)", "sh", "-c", "touch '\(marker)'"])
            #expect(second.status != 0, "\(name): not refused: \(second.standardError)")
            #expect(second.standardError.contains("is being written by another mprof run"), "\(name): \(second.standardError)")
            #expect(!FileManager.default.fileExists(atPath: marker), "\(name): the refused run started its program")
        }
        let sleeper = try Workload(["hold", "1"])
        #expect(try sleeper.readLine() == "ok")
        let attach = try runProduct("mprof", ["attach", "-o", "\(path)/l.dat", "\(sleeper.id.rawValue)", "--timeout", "0.3"])
        #expect(attach.status != 0 && attach.standardError.contains("is being written by another"), "\(attach.standardError)")
        #expect(!FileManager.default.fileExists(atPath: "\(path)/l.heap"), "a refused heap run left its capture")

        #expect(try first.wait() == .exited(0))
        let text = try String(contentsOfFile: "\(path)/t.dat", encoding: .utf8)
        #expect(text.components(separatedBy: "CMDLINE").count - 1 == 1, "\(text)")
        #expect(try runProduct("mprof", ["run", "-o", "\(path)/l.dat", "/bin/true"]).status == 0)
        let appended = try String(contentsOfFile: "\(path)/t.dat", encoding: .utf8)
        #expect(appended.components(separatedBy: "CMDLINE").count - 1 == 2, "\(appended)")

        // Not a regular file: anyone's, at the same time.
        let one = try ChildProcess.spawn(
            BuiltProducts.path("mprof"), arguments: ["run", "-o", "/dev/null", "sleep", "1"],
            standardInput: .null, standardOutput: .null, standardError: .null)
        usleep(300_000)
        #expect(try runProduct("mprof", ["run", "-o", "/dev/null", "/bin/true"]).status == 0)
        #expect(try one.wait() == .exited(0))
    }

    /// A file named like the capture's list of unrecorded processes (`X.heap.children`) is replaced only when it is
    /// one (lines "exec PID PATH" or "fork PID"); anything else there is refused, untouched. (It was deleted.)
    @Test func aFileNamedLikeTheChildrenListIsReplacedOnlyWhenItIsOne() throws {
        let directory = try TemporaryDirectory()
        let children = "\(directory.path)/m.heap.children"
        try "precious\n".write(toFile: children, atomically: true, encoding: .utf8)
        let refused = try runProduct("mprof", ["run", "--heap", "-o", "\(directory.path)/m.dat", "/bin/true"])
        #expect(refused.status != 0 && refused.standardError.contains("is not a list of processes mprof wrote"), "\(refused.standardError)")
        #expect(try String(contentsOfFile: children, encoding: .utf8) == "precious\n")
        // One the hook wrote (a shell's two children) is replaced by the next run's.
        unlink(children)
        for _ in 0..<2 {
            let run = try runProduct("mprof", ["run", "--heap", "-o", "\(directory.path)/m.dat", "sh", "-c", "/bin/true; /bin/true"])
            #expect(run.status == 0, "\(run.standardError)")
            let list = try String(contentsOfFile: children, encoding: .utf8)
            #expect(list.split(separator: "\n").count == 2 && list.hasPrefix("exec "), "\(list)")
        }
    }

    /// A capture path longer than the hook takes is refused before the program runs, with nothing left behind (the
    /// hook gave up on it, and left the capture's descriptor to every process the program started).
    @Test func aCapturePathTooLongForTheHookIsRefusedBeforeTheProgramRuns() throws {
        let directory = try TemporaryDirectory()
        // A directory whose absolute path is 4,076 bytes: within PATH_MAX (mprof can name it), while the capture's,
        // with "/r.heap", is past what the hook takes.
        var steps: [String] = []
        var length = directory.path.utf8.count
        while length < 4076 {
            let name = String(repeating: "d", count: min(250, 4076 - length - 1))
            steps.append(name)
            length += 1 + name.utf8.count
        }
        let script = steps.map { "mkdir \($0) && cd \($0)" }.joined(separator: " && ")
            + " && '\(BuiltProducts.path("mprof"))' run --heap -o r.dat /bin/sh -c 'touch ran'; echo status $?; ls"
        // bash: dash gives up on a cd whose whole path would pass PATH_MAX; bash goes on with the relative one.
        let result = try runCommand("/bin/bash", ["-c", "cd '\(directory.path)' && " + script])
        #expect(result.standardOutput.hasPrefix("status 1"), "\(result.standardOutput) \(result.standardError)")
        #expect(result.standardError.contains("the hook takes at most 4079"), "\(result.standardError)")
        #expect(!result.standardOutput.contains("ran") && !result.standardOutput.contains("r.heap"), "\(result.standardOutput)")
    }

    /// With less room on the disk than the hook's usual 16 MiB step (an 8 MiB tmpfs), the capture grows a window at a
    /// time and is written whole; it was lost ("its file cannot grow"), and mprof blamed LD_PRELOAD.
    @Test(.enabled(if: getuid() == 0, "mounting a tmpfs needs root"))
    func aCaptureIsWrittenOnADiskWithLittleRoom() throws {
        let directory = try TemporaryDirectory()
        let small = "\(directory.path)/small"
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: false)
        let mount = try runCommand("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", small])
        try #require(mount.status == 0, "could not mount a tmpfs: \(mount.standardError)")
        defer { _ = try? runCommand("umount", ["-l", small]) }
        let run = try runProduct(
            "mprof", ["run", "--heap", "-o", "\(small)/run.dat", BuiltProducts.path("heap-workload"), "mixed", "100000"])
        #expect(run.status == 0, "\(run.standardError)")
        let capture = try HeapCapture(path: "\(small)/run.heap")
        #expect(capture.summary.finishedNormally && capture.summary.allocations >= 100_000, "\(capture.summary)")
    }

    /// A heap capture named as a recording's -o (another run's, perhaps while its program writes it) is refused and
    /// left as it was: samples were appended to it, inside the room the hook grows into.
    @Test func aHeapCaptureIsNeverAppendedToAsARecording() throws {
        let directory = try TemporaryDirectory()
        let made = try runProduct("mprof", ["run", "--heap", "-o", "\(directory.path)/h.dat", "/bin/true"])
        try #require(made.status == 0, "\(made.standardError)")
        let capture = "\(directory.path)/h.heap"
        let before = try Data(contentsOf: URL(fileURLWithPath: capture))
        for arguments in [["run", "-o", capture, "/bin/true"], ["run", "--heap", "-o", capture, "/bin/true"]] {
            let refused = try runProduct("mprof", arguments)
            #expect(refused.status != 0 && refused.standardError.contains("is a heap capture"), "\(arguments): \(refused.standardError)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: capture)) == before, "\(arguments) changed the capture")
        }
    }

    private static func readLine(_ process: ChildProcess) -> String? {
        guard let descriptor = process.standardOutput else { return nil }
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while bytes.count < 64, read(descriptor, &byte, 1) == 1, byte != UInt8(ascii: "\n") { bytes.append(byte) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
