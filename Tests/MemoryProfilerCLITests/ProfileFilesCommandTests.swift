import Foundation
import MemoryProfiler
import MemoryProfilerTestSupport
import Testing

/// `mprof peak`, `list`, `rm` and `clean` on files in a directory of their own, and both directions of the
/// `.dat` format checked against Python's memory_profiler itself.
@Suite struct ProfileFilesCommandTests {
    static let samples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/mprof-samples").standardized.path

    @Test func peakPrintsMemoryProfilersDocumentedPeaks() throws {
        let children = try runProduct("mprof", ["peak", "\(Self.samples)/children_include_multiprocess.dat"])
        #expect(children.status == 0)
        #expect(
            children.standardOutput == """
                \(Self.samples)/children_include_multiprocess.dat\t481.992 MiB
                  Child 9989\t\t\t81.312 MiB
                  Child 9991\t\t\t121.312 MiB
                  Child 10005\t\t\t161.312 MiB
                  Child 10015\t\t\t73.266 MiB

                """)
        let grow = try runProduct("mprof", ["peak", "--func", "__main__.grow", "\(Self.samples)/step_alloc.dat"])
        #expect(grow.standardOutput == "\(Self.samples)/step_alloc.dat\t250.445 MiB\n")
    }

    @Test func listRmAndCleanFollowMemoryProfilersNamesAndIndices() throws {
        let directory = try TemporaryDirectory()
        for stamp in ["20261125090000", "20261125100000", "20261125110000"] {
            try "MEM 1.0 1\n".write(toFile: "\(directory.path)/mprofile_\(stamp).dat", atomically: true, encoding: .utf8)
        }
        try "MEM 1.0 1\n".write(toFile: "\(directory.path)/mprofile_other.dat", atomically: true, encoding: .utf8)

        let list = try directory.mprof(["list"])
        #expect(
            list.standardOutput == """
                0 mprofile_20261125090000.dat 09:00:00 25/11/2026
                1 mprofile_20261125100000.dat 10:00:00 25/11/2026
                2 mprofile_20261125110000.dat 11:00:00 25/11/2026

                """)

        let dryRun = try directory.mprof(["rm", "--dry-run", "-1"])
        #expect(dryRun.standardOutput == "Files to be removed: \nmprofile_20261125110000.dat\n")
        #expect(try directory.files().count == 4)

        #expect(try directory.mprof(["rm", "-1", "0"]).status == 0)
        #expect(try directory.files() == ["mprofile_20261125100000.dat", "mprofile_other.dat"])

        let badIndex = try directory.mprof(["rm", "7"])
        #expect(badIndex.status != 0)
        #expect(badIndex.standardError.contains("Error: no profile with index 7"))

        #expect(try directory.mprof(["clean"]).status == 0)
        #expect(try directory.files() == ["mprofile_other.dat"])
        let none = try directory.mprof(["peak"])
        #expect(none.status != 0)
        #expect(none.standardError.contains("no mprofile_*.dat file in this directory"))
    }

    @Test func aMalformedFileGetsItsFileAndLineAndAFailingStatus() throws {
        let directory = try TemporaryDirectory()
        try "CMDLINE x\nMEM 1.5 100\nMEM 2.5\n".write(toFile: "\(directory.path)/bad.dat", atomically: true, encoding: .utf8)
        let result = try directory.mprof(["peak", "bad.dat"])
        #expect(result.status == 1)
        #expect(result.standardError == "Error: bad.dat:3: MEM is missing the time: \"MEM 2.5\"\n")
        #expect(result.standardOutput.isEmpty)
    }

    @Test func anUnknownFunctionPrintsNaNAsMemoryProfilerDoesAndFails() throws {
        let result = try runProduct("mprof", ["peak", "--func", "nothing", "\(Self.samples)/step_alloc.dat"])
        #expect(result.status == 1)
        #expect(result.standardOutput == "\(Self.samples)/step_alloc.dat\tNaN MiB\n")
        #expect(result.standardError.contains("has no function nothing (its functions: __main__.grow, __main__.shrink"))
    }

    /// Both directions against the real tool: Python's mprof reads our file and finds our sampled peak, and
    /// ours reads its files and finds its peaks.
    @Test func pythonsMprofAgreesWithOurs() throws {
        let python = try PythonMemoryProfiler.shared()
        let file = temporaryFile("dat")
        defer { remove(file) }
        let recording = try runProduct(
            "mprof", ["run", "-M", "-T", "0.01", "-o", file, BuiltProducts.path("memory-workload"), "hold", "120", "--exit"])
        #expect(recording.status == 0, "\(recording.standardError)")

        // Our additions are in it (PEAK, READER, FILE), which memory_profiler must skip.
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(text.contains("\nFILE ") && text.contains("\nREADER "), "\(text.prefix(300))")
        let ours = try runProduct("mprof", ["peak", "--sampled", file])
        let theirs = try python.mprof(["peak", file])
        #expect(theirs.status == 0, "\(theirs.standardError)")
        #expect(ours.standardOutput == theirs.standardOutput)
        let true_ = try #require(MprofFile(path: file).peak())
        #expect(true_.mebibytes >= 120)

        for sample in ["children_include_multiprocess.dat", "step_alloc.dat", "exec_non_python.dat"] {
            let path = "\(Self.samples)/\(sample)"
            #expect(try runProduct("mprof", ["peak", path]).standardOutput == python.mprof(["peak", path]).standardOutput)
        }
    }
}

/// A directory that disappears with the value, where `mprof` runs as its working directory.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("mprof-dir-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func files() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).sorted()
    }

    func mprof(_ arguments: [String]) throws -> CommandResult {
        let quoted = ([BuiltProducts.path("mprof")] + arguments).map { "'\($0)'" }.joined(separator: " ")
        return try runCommand("sh", ["-c", "cd '\(path)' && exec \(quoted)"])
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Python's memory_profiler, installed from PyPI into a virtual environment under `.build` the first time a test
/// needs it (`.ci/run` does it up front).
final class PythonMemoryProfiler: Sendable {
    let mprofPath: String

    private static let instance = Result { try PythonMemoryProfiler() }

    static func shared() throws -> PythonMemoryProfiler {
        try instance.get()
    }

    private init() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..")
            .standardized.path
        let environment = ProcessInfo.processInfo.environment["MPROF_PYTHON_VENV"] ?? "\(root)/.build/python-venv"
        mprofPath = "\(environment)/bin/mprof"
        if !FileManager.default.isExecutableFile(atPath: mprofPath) {
            let venv = try runCommand("python3", ["-m", "venv", environment])
            guard venv.status == 0 else { throw WorkloadError("python3 -m venv failed: \(venv.standardError)") }
            let install = try runCommand("\(environment)/bin/pip", ["install", "--quiet", "memory-profiler==0.61.0"])
            guard install.status == 0 else {
                throw WorkloadError("pip install memory-profiler failed: \(install.standardError)")
            }
        }
    }

    func mprof(_ arguments: [String]) throws -> CommandResult {
        try runCommand(mprofPath, arguments)
    }
}
