import Foundation
import MemoryProfiler
import MemoryProfilerSystem
import MemoryProfilerTestSupport
import Testing

/// `mprof run --max-peak/--max-heap/--no-leaks`, the gate for any program in CI: a C program whose memory is known
/// (Tests/Fixtures/programs/budget.c: a buffer of N MiB at its peak, K blocks of 1000 bytes leaked, a chosen exit).
struct MemoryGateTests {
    static func run(_ options: [String], _ arguments: [String], in directory: TemporaryDirectory) throws -> CommandResult {
        let program = try HeapProfilingTests.compile(fixture: "budget", in: directory)
        return try runProduct("mprof", ["run", "-o", "\(directory.path)/run.dat"] + options + [program] + arguments)
    }

    @Test func aPeakOverItsBudgetFailsTheRunWithStatus3AndSaysByHowMuch() throws {
        let directory = try TemporaryDirectory()
        let over = try Self.run(["--max-peak", "32MiB"], ["64", "0", "0"], in: directory)
        #expect(over.status == 3, "\(over.standardError)")
        // The peak is the program's: 64 MiB of buffer and the C runtime's few hundred KiB; as mprof peak prints it.
        let line = try #require(over.standardError.split(separator: "\n").first { $0.hasPrefix("mprof: over budget: peak ") })
        let peak = try #require(try mprofPeak(of: "\(directory.path)/run.dat"))
        #expect(peak >= 64 && peak < 72, "\(peak)")
        #expect(line.hasSuffix("over --max-peak 32.0 MiB"), "\(line)")

        let within = try Self.run(["--max-peak", "0.25GiB"], ["64", "0", "0"], in: try TemporaryDirectory())
        #expect(within.status == 0 && !within.standardError.contains("over budget"), "\(within.standardError)")
    }

    @Test func aProgramThatFailsOnItsOwnKeepsItsStatusAndTheBudgetIsStillReported() throws {
        let directory = try TemporaryDirectory()
        let failed = try Self.run(["--max-peak", "16MiB"], ["64", "0", "7"], in: directory)
        #expect(failed.status == 7, "\(failed.standardError)")
        #expect(failed.standardError.contains("over --max-peak 16.0 MiB") && failed.standardError.contains("exited with status 7"))
    }

    @Test func theHeapsPeakAndItsLeaksAreCheckedWithTheirSites() throws {
        let directory = try TemporaryDirectory()
        let over = try Self.run(["--max-heap", "32MiB", "--no-leaks"], ["64", "5", "0"], in: directory)
        #expect(over.status == 3, "\(over.standardError)")
        let error = over.standardError
        // The heap's peak is exactly the buffer (the C runtime allocates nothing else of note here).
        #expect(error.contains("over budget: heap peak 64.0 MiB is 32.0 MiB over --max-heap 32.0 MiB"), "\(error)")
        #expect(error.contains("64.0 MiB in 1 allocation: hold_buffer at ") && error.contains("/budget.c:10 ← main at "), "\(error)")
        #expect(error.contains("over budget: 4.9 KiB leaked in 5 blocks (--no-leaks)"), "\(error)")
        #expect(error.contains("4.9 KiB in 5 allocations: leak_blocks at ") && error.contains("/budget.c:17 ← main at "), "\(error)")

        let clean = try Self.run(["--max-heap", "128MiB", "--no-leaks"], ["64", "0", "0"], in: directory)
        #expect(clean.status == 0 && !clean.standardError.contains("over budget"), "\(clean.standardError)")
    }

    /// A budget that cannot be checked fails: a killed program has no leak scan.
    @Test func aLeakBudgetWithoutAScanFailsSayingWhy() throws {
        let directory = try TemporaryDirectory()
        let killed = try Self.run(["--no-leaks"], ["8", "5", "kill"], in: directory)
        #expect(killed.status == 128 + 9, "\(killed.standardError)")
        #expect(killed.standardError.contains("over budget: --no-leaks not checked: no leak scan"), "\(killed.standardError)")
    }

    @Test(arguments: ["0", "-5", "10XB", "2PiB", "nan", ""])
    func aBudgetThatMeansNothingIsRefusedBeforeTheProgramRuns(size: String) throws {
        let directory = try TemporaryDirectory()
        let marker = "\(directory.path)/ran"
        let result = try runProduct("mprof", ["run", "-o", "\(directory.path)/run.dat", "--max-peak", size, "touch", marker])
        #expect(result.status == 64, "\(result.standardError)")
        // ("-5" reads as an option, so the value is missing: refused all the same.)
        #expect(result.standardError.contains("for '--max-peak <size>'"), "\(result.standardError)")
        #expect(!FileManager.default.fileExists(atPath: marker), "the program never ran")
    }

    /// The peak `mprof peak` prints for a recording, in MiB.
    func mprofPeak(of file: String) throws -> Double? {
        let peak = try runProduct("mprof", ["peak", file])
        return peak.standardOutput.split(separator: "\t").dropFirst().first.flatMap { Double($0.split(separator: " ")[0]) }
    }
}
