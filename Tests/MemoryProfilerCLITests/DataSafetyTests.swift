import Foundation
import MemoryProfiler
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
            "/bin/sh", arguments: ["-c", "sleep 0 & echo $!; exec sleep 5"], standardInput: .null, standardOutput: .pipe)
        defer {
            kill(parent.id.rawValue, SIGKILL)
            parent.closePipes()
            _ = try? parent.wait()
        }
        let pidText = try #require(Self.readLine(parent))
        let zombie = try #require(Int32(pidText))
        for _ in 0..<100 where ProcessID.state(of: ProcessID(zombie)) != "Z" { usleep(10_000) }
        #expect(ProcessID.state(of: ProcessID(zombie)) == "Z")
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

    private static func readLine(_ process: ChildProcess) -> String? {
        guard let descriptor = process.standardOutput else { return nil }
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while bytes.count < 64, read(descriptor, &byte, 1) == 1, byte != UInt8(ascii: "\n") { bytes.append(byte) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
