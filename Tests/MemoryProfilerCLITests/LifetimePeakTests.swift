import Foundation
import MemoryProfiler
import MemoryProfilerTestSupport
import Testing

/// The peak `mprof run` reports is the program's own, however small or short the program: checked against
/// `/usr/bin/time -f %M`, which reads the same kernel counter for a child it forks itself.
@Suite(.serialized) struct LifetimePeakTests {
    /// Programs from 1 MiB to 60 MiB, and one that ends before a first sample could be taken.
    static let programs: [(name: String, arguments: [String])] = [
        ("sh", ["-c", "sleep 0.3"]),
        ("/bin/true", []),
        ("c-alloc", ["1", "200"]),
        ("c-alloc", ["60", "300"]),
        ("c-alloc", ["60", "0"]),
    ]

    @Test(arguments: programs.indices)
    func thePeakIsTheProgramsOwnAsUsrBinTimeMeasuresIt(index: Int) throws {
        let (name, arguments) = Self.programs[index]
        let program = name == "c-alloc" ? try CAllocProgram.shared().path : name
        // Both run with address-space randomisation off (`setarch -R`, inherited through fork and exec): with
        // it on, the same program's peak moves by ±0.1 MiB from run to run, as mmap and stack placement vary.
        var timeFigures: [Double] = []
        var ours: [Double] = []
        for _ in 0..<3 {
            timeFigures.append(try Self.usrBinTimePeak(program, arguments))
            ours.append(try Self.mprofPeak(program, arguments))
        }
        let theirs = timeFigures.sorted()[1]
        let median = ours.sorted()[1]
        // Within 0.2 MiB of /usr/bin/time, and far below mprof's own size (≈20 MiB) for small programs.
        #expect(abs(median - theirs) <= 0.2, "mprof \(ours) MiB, /usr/bin/time \(timeFigures) MiB for \(name) \(arguments)")
        if let size = Double(arguments.first ?? ""), name == "c-alloc" {
            #expect(median >= size * 0.95)
        }
    }

    @Test func theChildrenAProgramWaitedForAreNotItsPeak() throws {
        // sh forks an 80 MiB program and waits for it: wait4's lifetime figure is the child's, not the shell's.
        let file = temporaryFile("dat")
        defer { remove(file) }
        let alloc = try CAllocProgram.shared().path
        let result = try runProduct("mprof", ["run", "-T", "0.05", "-o", file, "sh", "-c", "'\(alloc)' 80 300; sleep 0.2"])
        #expect(result.status == 0, "\(result.standardError)")
        let peak = try #require(MprofFile(path: file).peak())
        #expect(peak.mebibytes < 10, "the shell's own peak, not its child's: \(peak)")
    }

    @Test func aPSSFileHoldsNoResidentSetPeak() throws {
        let file = temporaryFile("dat")
        defer { remove(file) }
        let result = try runProduct(
            "mprof", ["run", "--backend", "pss", "-T", "0.01", "-o", file, CAllocProgram.shared().path, "30", "100"])
        #expect(result.status == 0, "\(result.standardError)")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(text.contains("READER pss"))
        #expect(!text.contains("\nPEAK "), "\(text)")
    }

    @Test func aProgramThatEndsAtOnceStillHasAPeak() throws {
        let directory = try TemporaryDirectory()
        for _ in 0..<5 {
            let run = try directory.mprof(["run", "-o", "quick.dat", "/bin/echo", "hi"])
            #expect(run.status == 0, "\(run.standardError)")
            #expect(run.standardOutput == "hi\n")
        }
        let peak = try directory.mprof(["peak", "quick.dat"])
        #expect(peak.status == 0, "\(peak.standardError)")
        let value = try #require(Self.mebibytes(inPeakOutput: peak.standardOutput))
        #expect(value > 0.3 && value < 5, "\(peak.standardOutput)")
        let plot = try directory.mprof(["plot", "quick.dat", "-o", "quick.svg"])
        #expect(plot.status == 0, "\(plot.standardError)")
    }

    @Test func withoutTheLauncherTheBoundIsHonestAndSaid() throws {
        // mprof copied alone: it warns, and writes no lifetime peak it cannot tell from its own.
        let directory = try TemporaryDirectory()
        let copy = "\(directory.path)/mprof"
        // Copied by cp, in a process of its own: a descriptor this process held open for writing would be inherited
        // by children other tests start meanwhile, and exec would fail with ETXTBSY.
        let copied = try runCommand("cp", [BuiltProducts.path("mprof"), copy])
        try #require(copied.status == 0, "\(copied.standardError)")
        let result = try runCommand(copy, ["run", "-o", "\(directory.path)/s.dat", "sh", "-c", "sleep 0.2"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("mprof-spawn is not beside mprof"))
        let recorded = try MprofFile(path: "\(directory.path)/s.dat")
        #expect(recorded.intervalPeaks.allSatisfy { $0.mebibytes < 10 }, "\(recorded.intervalPeaks)")
    }

    // MARK: Helpers

    static func usrBinTimePeak(_ program: String, _ arguments: [String]) throws -> Double {
        let result = try runCommand("setarch", ["-R", "/usr/bin/time", "-f", "TIME-PEAK %M"] + [program] + arguments)
        #expect(result.status == 0, "\(result.standardError)")
        let line = try #require(result.standardError.split(separator: "\n").last { $0.hasPrefix("TIME-PEAK ") })
        let kibibytes = try #require(Double(line.dropFirst("TIME-PEAK ".count)))
        return kibibytes / 1024
    }

    static func mprofPeak(_ program: String, _ arguments: [String]) throws -> Double {
        let file = temporaryFile("dat")
        defer { remove(file) }
        let run = try runCommand("setarch", ["-R", BuiltProducts.path("mprof"), "run", "-o", file, program] + arguments)
        #expect(run.status == 0, "\(run.standardError)")
        let peak = try runProduct("mprof", ["peak", file])
        #expect(peak.status == 0, "\(peak.standardError)")
        return try #require(mebibytes(inPeakOutput: peak.standardOutput), "\(peak.standardOutput)")
    }

    static func mebibytes(inPeakOutput output: String) -> Double? {
        guard let line = output.split(separator: "\n").first else { return nil }
        let fields = line.split(separator: "\t")
        guard fields.count >= 2 else { return nil }
        return Double(fields[1].split(separator: " ")[0])
    }
}

/// A C program that allocates and touches N MiB, sleeps M ms and exits: a program far smaller than mprof.
final class CAllocProgram: Sendable {
    let path: String

    private static let instance = Result { try CAllocProgram() }

    static func shared() throws -> CAllocProgram {
        try instance.get()
    }

    private init() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mprof-c-alloc-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let source = "\(directory)/c-alloc.c"
        path = "\(directory)/c-alloc"
        try """
            #include <stdlib.h>
            #include <string.h>
            #include <time.h>
            int main(int argc, char **argv) {
                size_t bytes = (size_t)atol(argv[1]) << 20;
                long milliseconds = atol(argv[2]);
                char *block = malloc(bytes);
                if (block == NULL) return 1;
                memset(block, 1, bytes);
                struct timespec pause = {milliseconds / 1000, (milliseconds % 1000) * 1000000L};
                nanosleep(&pause, NULL);
                return block[bytes / 2] == 1 ? 0 : 2;
            }
            """.write(toFile: source, atomically: true, encoding: .utf8)
        let compile = try runCommand("cc", ["-O1", "-o", path, source])
        guard compile.status == 0 else { throw WorkloadError("cc failed: \(compile.standardError)") }
    }
}
