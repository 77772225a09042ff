import Foundation
import MemoryProfiler
import Testing

/// Reading `.dat` files: memory_profiler's own files give its documented peaks, our records read back, and a
/// malformed line is reported with its file and line.
@Suite struct MprofFileTests {
    static let samples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/mprof-samples").standardized.path

    @Test func readsMemoryProfilersFileWithChildrenAndGivesItsPeaks() throws {
        let file = try MprofFile(path: "\(Self.samples)/children_include_multiprocess.dat")
        let peak = try #require(file.peak())
        #expect(String(format: "%.3f", peak.mebibytes) == "481.992")
        #expect(peak.source == .samples)
        let childPeaks = file.children.map { series in
            "\(series.process) " + String(format: "%.3f", series.samples.map(\.mebibytes).max() ?? 0)
        }
        #expect(childPeaks == ["9989 81.312", "9991 121.312", "10005 161.312", "10015 73.266"])
        #expect(file.commandLine == "python3.11 spawn_children.py")
        #expect(file.commandLineCount == 1)
    }

    @Test func readsFunctionRecordsWhereverTheyAreAndFiltersPeaksByFunction() throws {
        let file = try MprofFile(path: "\(Self.samples)/step_alloc.dat")
        #expect(String(format: "%.3f", try #require(file.peak()).mebibytes) == "250.445")
        #expect(String(format: "%.3f", try #require(file.peak(function: "__main__.grow")).mebibytes) == "250.445")
        #expect(String(format: "%.3f", try #require(file.peak(function: "__main__.shrink")).mebibytes) == "200.441")
        #expect(file.peak(function: "__main__.nothing") == nil)
        #expect(file.functionNames == ["__main__.grow", "__main__.shrink", "__main__.main"])
        let grow = try #require(file.functions.first)
        #expect(grow.level == 1)
        #expect(abs(grow.endMemory.mebibytes - 250.4453) < 0.001)
        #expect(abs(grow.duration - 1.9743) < 0.0001)
    }

    @Test func readsSeveralRunsAppendedToOneFile() throws {
        let run = try String(contentsOfFile: "\(Self.samples)/exec_non_python.dat", encoding: .utf8)
        let single = try MprofFile(parsing: run)
        #expect(String(format: "%.3f", try #require(single.peak()).mebibytes) == "113.262")
        #expect(single.samples.count == 13)
        // `mprof run -o` with the same file twice, as memory_profiler leaves it: all runs are read.
        let twice = try MprofFile(parsing: run + run.replacingOccurrences(of: "113.261719", with: "120.5"))
        #expect(twice.commandLineCount == 2)
        #expect(twice.samples.count == 26)
        #expect(try #require(twice.peak()).mebibytes == 120.5)
    }

    @Test func readsBackWhatWeWriteAndPrefersTheKernelsPeak() throws {
        let records: [DatRecord] = [
            .commandLine(arguments: ["./app", "two words"]), .reader("rss"),
            .memory(MemorySize(mebibytes: 10), wallClock: 1000.5),
            .peak(MemorySize(mebibytes: 300), wallClock: 1000.6),
            .memory(MemorySize(mebibytes: 20), wallClock: 1000.6),
            .child(ProcessID(42), MemorySize(mebibytes: 5), wallClock: 1000.6),
            .function(
                FunctionRecord(
                    name: "Catalog.load(from:)", startMemory: MemorySize(mebibytes: 10), startWallClock: 1000.5,
                    endMemory: MemorySize(mebibytes: 20), endWallClock: 1000.6, level: 0)),
            .function(
                FunctionRecord(
                    name: "old style", startMemory: .zero, startWallClock: 1, endMemory: .zero, endWallClock: 2,
                    level: nil)),
        ]
        let text = records.map(\.line).joined(separator: "\n") + "\nFUTURE record from a newer mprof\n"
        let file = try MprofFile(parsing: text)
        #expect(file.commandLine == "./app 'two words'")
        #expect(file.reader == "rss")
        #expect(file.samples == [.init(memory: MemorySize(mebibytes: 10), wallClock: 1000.5), .init(memory: MemorySize(mebibytes: 20), wallClock: 1000.6)])
        #expect(file.children.map(\.process) == [ProcessID(42)])
        #expect(file.functions.map(\.name) == ["Catalog.load(from:)", "old_style"])
        #expect(file.functions.last?.level == nil)
        let peak = try #require(file.peak())
        #expect(peak.mebibytes == 300)
        #expect(peak.sampled == MemorySize(mebibytes: 20))
        #expect(peak.source == .kernelHighWaterMark)
        #expect(try #require(file.peak(function: "Catalog.load(from:)")).mebibytes == 300)
    }

    @Test func aProgramThatEndedBeforeItsFirstSampleHasItsLifetimePeak() throws {
        let file = try MprofFile(parsing: "CMDLINE /bin/true\nREADER rss\nPEAK 1.019531 1795903151.0824\n")
        let peak = try #require(file.peak())
        #expect(peak.memory == MemorySize(mebibytes: 1.019531))
        #expect(peak.sampled == nil)
        #expect(peak.source == .kernelHighWaterMark)
        #expect(try MprofFile(parsing: "CMDLINE x\n").peak() == nil)
    }

    @Test(arguments: [
        ("MEM 1.5 10\nMEM x 11\n", "bad.dat:2: MEM has \"x\" where the memory in MiB should be"),
        ("MEM 1.5\n", "bad.dat:1: MEM is missing the time: \"MEM 1.5\""),
        ("CHLD abc 1 2\n", "bad.dat:1: CHLD needs a child's PID first: \"CHLD abc 1 2\""),
        ("FUNC f 1 2 3\n", "bad.dat:1: FUNC is missing the end time: \"FUNC f 1 2 3\""),
        ("FUNC f 1 2 3 4 deep\n", "bad.dat:1: FUNC has \"deep\" where the nesting level should be"),
        ("MEM 1 2\n\u{7f}ELF\u{2}\u{1}\n", #"bad.dat:2: not a record of an mprof file: "\x7FELF\x02\x01""#),
        ("MEM nan 2\n", "bad.dat:1: MEM has \"nan\" where the memory in MiB should be"),
    ])
    func aMalformedLineIsReportedWithItsFileAndLine(text: String, message: String) {
        #expect(throws: MprofFileError.self) { try MprofFile(parsing: text, path: "bad.dat") }
        do {
            _ = try MprofFile(parsing: text, path: "bad.dat")
        } catch {
            #expect(error.description == message)
        }
    }

    /// Lines around the 1 MiB limit, read from a file in chunks and from a string at once: the same answer.
    @Test(arguments: [-1, 0, 1], ["\n", "\r\n", ""])
    func theLineLimitIsTheSameForFilesAndStrings(excess: Int, ending: String) throws {
        let long = "CMDLINE " + String(repeating: "x", count: MprofFile.maximumLineLength - 8 + excess)
        let text = "MEM 1 1\n" + long + ending
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("long-\(UUID()).dat").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fromFile = Result { () throws(MprofFileError) in try MprofFile(path: path) }
        let fromText = Result { () throws(MprofFileError) in try MprofFile(parsing: text, path: path) }
        switch (fromFile, fromText) {
        case (.success(let file), .success(let parsed)):
            #expect(excess <= 0)
            #expect(file.commandLine == parsed.commandLine)
        case (.failure(let error), .failure(let parsedError)):
            #expect(excess > 0)
            #expect(error == parsedError)
            #expect(error.code == .lineTooLong && error.line == 2)
        default:
            Issue.record("file \(fromFile), text \(fromText)")
        }
    }

    @Test func aMissingFileIsAnErrorNamingIt() {
        do {
            _ = try MprofFile(path: "/nonexistent/mprofile.dat")
            Issue.record("no error")
        } catch {
            #expect(error.description == "/nonexistent/mprofile.dat: cannot open: No such file or directory")
        }
    }
}
