import Foundation
import MemoryProfiler
import MemoryProfilerSystem
import MemoryProfilerTestSupport
import Testing

/// `mprof run --heap` and `mprof heap` on programs whose allocations are known: the C programs below and
/// `heap-workload` (Tests/HeapWorkload/main.swift documents its exact numbers), with heaptrack as the witness.
@Suite(.serialized)
struct HeapProfilingTests {
    static var hook: String { BuiltProducts.path("libmprof-heap-hook.so") }

    /// A capture of `program` made with `mprof run --heap`, and what mprof said.
    struct Run {
        var result: CommandResult
        var capturePath: String
        var capture: HeapCapture
        var profile: HeapProfile
    }

    static func record(_ program: String, _ arguments: [String], in directory: TemporaryDirectory, environment: [String: String] = [:]) throws -> Run {
        try #require(FileManager.default.fileExists(atPath: hook), "\(hook) is missing: build with `swift build`")
        let result = try runProduct("mprof", ["run", "--heap", "-o", "\(directory.path)/run.dat", program] + arguments, environment: environment)
        #expect(result.status == 0, "\(result.standardError)")
        let path = "\(directory.path)/run.heap"
        let capture = try HeapCapture(path: path)
        let profile = HeapProfile(capture, symbols: HeapSymbolizer().symbolize(capture))
        return Run(result: result, capturePath: path, capture: capture, profile: profile)
    }

    /// Compiles C `source` with cc (from its own process, so no descriptor of ours is open on the executable).
    /// Where the C programs the tests compile are (Tests/Fixtures/programs/NAME.c).
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/programs").standardized.path

    /// The source of the C program Tests/Fixtures/programs/`name`.c ("" when it cannot be read: then its compile
    /// fails, saying so).
    static func fixture(_ name: String) -> String {
        (try? String(contentsOfFile: "\(fixtures)/\(name).c", encoding: .utf8)) ?? ""
    }

    /// Compiles the C program Tests/Fixtures/programs/`fixture`.c into `directory`, as `name` (the fixture's name by
    /// default).
    static func compile(
        fixture: String, named name: String? = nil, in directory: TemporaryDirectory, flags: [String] = []
    ) throws -> String {
        let source = Self.fixture(fixture)
        try #require(!source.isEmpty, "no fixture \(fixtures)/\(fixture).c")
        return try compile(source, named: name ?? fixture, in: directory, flags: flags)
    }

    static func compile(_ source: String, named name: String, in directory: TemporaryDirectory, flags: [String] = []) throws -> String {
        let file = "\(directory.path)/\(name).c", program = "\(directory.path)/\(name)"
        try source.write(toFile: file, atomically: true, encoding: .utf8)
        let compile = try runCommand("cc", ["-O1", "-g", "-o", program, file, "-lpthread"] + flags)
        try #require(compile.status == 0, "\(compile.standardError)")
        return program
    }

    /// 1000 blocks of 100 bytes from build(), half freed; 10 of 80 bytes from calloc, 5 of them grown to 256;
    /// no stdio (printf would allocate its buffer).
    static let knownC = HeapProfilingTests.fixture("known")

    @Test func aCProgramsAllocationsAreRecordedExactlyWithTheirSites() throws {
        let directory = try TemporaryDirectory()
        let program = try Self.compile(Self.knownC, named: "known", in: directory)
        let run = try Self.record(program, [], in: directory)
        let capture = run.capture
        #expect(capture.summary.finishedNormally)
        let sizes = (0..<capture.allocationCount).map { capture.size(of: $0) }
        #expect(sizes.filter { $0 == 100 }.count == 1000)
        #expect(sizes.filter { $0 == 80 }.count == 10)
        #expect(sizes.filter { $0 == 256 }.count == 5)
        // libc's start-up adds none or a few of its own.
        #expect(capture.summary.allocations >= 1015 && capture.summary.allocations < 1015 + 20, "\(capture.summary)")
        #expect(capture.summary.frees >= 505, "\(capture.summary)")

        // At the peak (the end of build) all 1000 blocks of build() were live: 100,000 bytes from one site.
        let peak = run.profile.sites(.peak)
        let top = try #require(peak.first)
        #expect(top.bytes == 100_000 && top.allocations == 1000, "\(peak)")
        #expect(top.frame.function == "make" && top.frame.line == 3, "\(top.frame)")
        #expect(top.stack.contains { $0.function == "build" && $0.line == 4 }, "\(top.stack)")
        // Not freed at exit: 500 of build's blocks, the 10 calloc'd ones (5 of them now 256 bytes); all still
        // pointed to by the globals, so none is a leak.
        let notFreed = run.profile.sites(.notFreed)
        #expect(notFreed.first { $0.frame.function == "make" }?.bytes == 50_000)
        #expect(notFreed.filter { $0.frame.function == "main" }.reduce(0) { $0 + $1.bytes } == 5 * 80 + 5 * 256, "\(notFreed)")
        #expect(capture.summary.reachabilityScanned)
        #expect(run.profile.sites(.leaks).filter { !$0.frame.isSystem }.isEmpty, "\(run.profile.sites(.leaks))")

        // The same through the command line, as JSON.
        let json = try runProduct("mprof", ["heap", "--json", "--view", "summary", "--view", "peak", run.capturePath])
        #expect(json.status == 0, "\(json.standardError)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
        let firstPeak = try #require((object["peak"] as? [[String: Any]])?.first)
        #expect(firstPeak["bytes"] as? Int == 100_000)
        #expect((firstPeak["frame"] as? [String: Any])?["function"] as? String == "make")
        #expect((object["summary"] as? [String: Any])?["peakBytes"] as? Int == capture.summary.peakBytes)

        // Sizes: 1000 blocks of 100 bytes in the 64–127 bucket, 5 of 256 in 256–511; filters keep what they name.
        let histogram = try runProduct("mprof", ["heap", "--json", "--view", "sizes", run.capturePath])
        let report = try JSONSerialization.jsonObject(with: Data(histogram.standardOutput.utf8)) as? [String: Any]
        let buckets = report?["sizes"] as? [[String: Any]] ?? []
        let bucket64 = buckets.first { ($0["sizes"] as? [Int])?.first == 64 } ?? [:]
        #expect((bucket64["allocations"] as? Int ?? 0) >= 1000 && (bucket64["bytes"] as? Int ?? 0) >= 100_000, "\(buckets)")
        let bucket256 = buckets.first { ($0["sizes"] as? [Int])?.first == 256 } ?? [:]
        #expect(bucket256["allocations"] as? Int == 5 && bucket256["bytes"] as? Int == 5 * 256, "\(buckets)")
        let onlyBuild = try runProduct("mprof", ["heap", "--json", "--view", "calls", "--function", "build", run.capturePath])
        let kept = (try JSONSerialization.jsonObject(with: Data(onlyBuild.standardOutput.utf8)) as? [String: Any])?["calls"] as? [[String: Any]] ?? []
        #expect(kept.count == 1 && kept.first?["allocations"] as? Int == 1000, "\(kept)")
        #expect((kept.first?["frame"] as? [String: Any])?["function"] as? String == "make", "\(kept)")
        let noModule = try runProduct("mprof", ["heap", "--view", "calls", "--module", "no-such-module", run.capturePath])
        #expect(noModule.standardOutput.contains("(none)"), "\(noModule.standardOutput)")
        let badView = try runProduct("mprof", ["heap", "--view", "everything", run.capturePath])
        #expect(badView.status != 0 && badView.standardError.contains("is invalid for '--view <view>'"), "\(badView.standardError)")

        // mprof stored the names in the capture after the run: it reads the same with the program gone and no
        // symbolizer.
        #expect(capture.embeddedSymbols != nil)
        try FileManager.default.removeItem(atPath: program)
        let later = try runProduct("mprof", ["heap", "--view", "peak", run.capturePath], environment: ["MPROF_SYMBOLIZER": "/nonexistent"])
        #expect(later.status == 0, "\(later.standardError)")
        #expect(later.standardOutput.contains("make at "), "\(later.standardOutput)")
    }

    @Test func theSwiftTruthWorkloadShowsItsBuilderTemporariesAndCyclesWithSwiftNamesAndTypes() throws {
        let directory = try TemporaryDirectory()
        let (n, x, m, k) = (30_000, 1000, 100_000, 500)
        let run = try Self.record(BuiltProducts.path("heap-workload"), ["known-sites", "\(n)", "\(x)", "\(m)", "\(k)"], in: directory)
        #expect(run.result.standardOutput == "ok\n")
        let profile = run.profile

        // The builder holds the peak: N payloads of X bytes (plus headers) and N Nodes, by Swift name.
        let peak = profile.sites(.peak)
        let top = try #require(peak.first)
        #expect(top.stack.contains { $0.function == "buildIndex(count:payload:)" }, "\(top.stack.map(\.location))")
        let builder = HeapProfile(run.capture, symbols: HeapSymbolizer().symbolize(run.capture), filter: .init(function: "buildIndex"))
        #expect(Double(builder.total(.peak).bytes) >= 0.95 * Double(n * x), "\(builder.total(.peak))")
        // The Nodes by type: exactly N, 32 bytes each.
        let nodes = peak.filter { $0.typeName == "Node" }
        #expect(nodes.reduce(0) { $0 + $1.allocations } == n, "\(peak.map { ($0.typeName, $0.allocations) })")
        #expect(nodes.reduce(0) { $0 + $1.bytes } == n * 32)

        // M temporaries in churn, ±1 %.
        let temporaries = profile.sites(.temporary).filter { $0.frame.function.contains("churn") || $0.stack.contains { $0.function.hasPrefix("churn(") } }
        let temporaryCount = temporaries.reduce(0) { $0 + $1.allocations }
        #expect(abs(temporaryCount - m) <= m / 100, "\(temporaryCount) temporaries at churn")

        // The leaks are exactly the cycles: 2K CyclePartner objects nothing points to, attributed to makeCycles.
        // The Nodes, never freed either, are reachable from a global: not leaks.
        let leaks = profile.sites(.leaks)
        let cycles = leaks.filter { $0.typeName == "CyclePartner" }
        #expect(cycles.reduce(0) { $0 + $1.allocations } == 2 * k, "\(cycles)")
        #expect(cycles.allSatisfy { $0.frame.function.contains("makeCycles") || $0.stack.contains { $0.function.hasPrefix("makeCycles(") } })
        #expect(run.capture.summary.blocksLeaked == 2 * k, "\(leaks.map { ($0.typeName, $0.frame.location, $0.allocations) })")
        #expect(profile.sites(.notFreed).filter { $0.typeName == "Node" }.reduce(0) { $0 + $1.allocations } == n)

        // The text report says the same, in the words a person reads.
        let text = try runProduct("mprof", ["heap", run.capturePath, "--top", "5"])
        #expect(text.status == 0, "\(text.standardError)")
        #expect(text.standardOutput.contains("buildIndex(count:payload:)"), "\(text.standardOutput)")
        #expect(text.standardOutput.contains("CyclePartner from "), "\(text.standardOutput)")
        #expect(!text.standardOutput.contains("$s"), "mangled names in \(text.standardOutput)")
    }

    @Test func eightThreadsTotalsAreExact() throws {
        let directory = try TemporaryDirectory()
        let run = try Self.record(BuiltProducts.path("heap-workload"), ["threads", "8", "20000", "64"], in: directory)
        let loop = run.profile.sites(.calls).filter { $0.frame.function.hasPrefix("mallocFreeLoop") }
        #expect(loop.reduce(0) { $0 + $1.allocations } == 160_000, "\(loop)")
        #expect(loop.reduce(0) { $0 + $1.bytes } == 160_000 * 64)
        #expect(run.profile.sites(.leaks).filter { $0.frame.function.hasPrefix("mallocFreeLoop") }.isEmpty)
        // Each free comes right after its own malloc on its thread: all are temporaries, however threads interleave.
        let temporaries = run.profile.sites(.temporary).filter { $0.frame.function.hasPrefix("mallocFreeLoop") }
        #expect(temporaries.reduce(0) { $0 + $1.allocations } == 160_000)
    }

    static let heaptrackInstalled = FileManager.default.isExecutableFile(atPath: "/usr/bin/heaptrack")

    @Test(.enabled(if: heaptrackInstalled, "heaptrack is not installed (apt-get install heaptrack; .ci/run does)"))
    func heaptrackAgreesOnCallsAndPeak() throws {
        let directory = try TemporaryDirectory()
        let arguments = ["known-sites", "30000", "1000", "100000", "500"]
        let ours = try Self.record(BuiltProducts.path("heap-workload"), arguments, in: directory)
        let output = "\(directory.path)/heaptrack.out"
        let traced = try runCommand("heaptrack", ["-o", output, BuiltProducts.path("heap-workload")] + arguments)
        #expect(traced.status == 0, "\(traced.standardError)")
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: directory.path).first { $0.hasPrefix("heaptrack.out") })
        let printed = try runCommand("heaptrack_print", ["-f", "\(directory.path)/\(file)"]).standardOutput
        func number(after label: String) -> Double? {
            guard let line = printed.split(separator: "\n").first(where: { $0.hasPrefix(label) }) else { return nil }
            let value = line.dropFirst(label.count).prefix { !$0.isWhitespace && $0 != "(" }
            let multiplier: Double = value.hasSuffix("K") ? 1000 : value.hasSuffix("M") ? 1e6 : value.hasSuffix("G") ? 1e9 : 1
            return Double(value.trimmingCharacters(in: CharacterSet(charactersIn: "KMGB"))).map { $0 * multiplier }
        }
        let calls = try #require(number(after: "calls to allocation functions: "), "\(printed)")
        let peak = try #require(number(after: "peak heap memory consumption: "), "\(printed)")
        #expect(abs(Double(ours.capture.summary.allocations) - calls) <= calls * 0.01, "ours \(ours.capture.summary.allocations), heaptrack \(calls)")
        // heaptrack prints the peak in SI units with two decimals (32.27M).
        #expect(abs(Double(ours.capture.summary.peakBytes) - peak) <= peak * 0.02, "ours \(ours.capture.summary.peakBytes), heaptrack \(peak)")
    }

    @Test func aKilledProgramLeavesACaptureReadableUpToItsLastRecord() throws {
        let directory = try TemporaryDirectory()
        let program = try Self.compile(fixture: "killed", in: directory)
        let result = try runProduct("mprof", ["run", "--heap", "-o", "\(directory.path)/run.dat", program])
        #expect(result.status == 128 + 9, "\(result.standardError)")
        let capture = try HeapCapture(path: "\(directory.path)/run.heap")
        #expect(!capture.summary.finishedNormally)
        #expect((0..<capture.allocationCount).filter { capture.size(of: $0) == 4096 }.count == 2000)
        #expect(capture.summary.peakBytes >= 2000 * 4096)
        let text = try runProduct("mprof", ["heap", "\(directory.path)/run.heap", "--view", "summary", "--view", "peak"])
        #expect(text.standardOutput.contains("The capture ends early"), "\(text.standardOutput)")
        // Its names were stored after the cut: the holder is named.
        #expect(capture.embeddedSymbols != nil)
        #expect(text.standardOutput.contains("hold at "), "\(text.standardOutput)")
    }

    /// Leaks that are leaks: blocks nothing points to (a lost pointer, a cycle of two blocks) against blocks
    /// reachable only through other blocks (a list from a global), from a thread's stack, or through a pointer
    /// into the middle of a block.
    @Test func theReachabilityScanTellsLeaksFromMemoryStillReferenced() throws {
        let directory = try TemporaryDirectory()
        let program = try Self.compile(fixture: "leaky", in: directory)
        let run = try Self.record(program, [], in: directory)
        let capture = run.capture
        #expect(capture.summary.reachabilityScanned)
        let leaks = run.profile.sites(.leaks).filter { !$0.frame.isSystem }
        func leaked(_ function: String) -> (count: Int, bytes: Int) {
            leaks.filter { $0.frame.function == function }.reduce((0, 0)) { ($0.0 + $1.allocations, $0.1 + $1.bytes) }
        }
        // Conservative, as LeakSanitizer: a stale copy of a pointer in a live frame's unused slot could keep a lost
        // block "reachable"; nothing reachable is ever called a leak. Here main has returned, and the scan reads
        // this thread's stack from the program's innermost frame up, not the exit machinery's frames (whose
        // unwritten slots held the last pointers `lose` handled): every lost block is found.
        let lost = leaked("lose"), cycles = leaked("cycle")
        #expect(lost.count == 100 && lost.bytes == 100 * 48, "\(leaks.map { ($0.frame.location, $0.allocations) })")
        #expect(cycles.count == 100 && cycles.bytes == 100 * 48, "\(cycles)")
        #expect(leaked("chain") == (0, 0))
        #expect(leaked("main") == (0, 0))
        #expect(leaked("holder") == (0, 0))
        #expect(run.profile.sites(.notFreed).filter { $0.frame.function == "chain" }.reduce(0) { $0 + $1.allocations } == 300)

        // The review's cases: the lowest block of all, lost (the scan's own bookkeeping held its address); a
        // 100-byte block, into whose last bytes glibc's pointer to the next chunk falls; a block whose only
        // reference is in an anonymous mapping next to the hook's own.
        let single = try Self.compile(fixture: "single", in: directory)
        for arguments in [[], ["100"]] {
            let lone = try Self.record(single, arguments, in: directory)
            let lost = lone.profile.sites(.leaks).filter { $0.frame.function == "lose" }
            #expect(lost.reduce(0) { $0 + $1.allocations } == 1, "\(arguments): \(lone.profile.sites(.leaks).map { ($0.frame.location, $0.allocations) })")
            #expect(lone.profile.sites(.leaks).filter { $0.frame.function == "keep" }.isEmpty, "the mapped region's block is reachable")
        }

        // A pointer in a block's last word, where glibc's next chunk begins when the block is freed (blocks of
        // 24, 40, 56, … bytes: a Swift object of 24 bytes keeps its last stored property there): the word is the
        // program's, and what it points to is reachable. (The scan once took the word for the allocator's and
        // called every such target leaked: NIO's pooled buffers, swift-log's locks.) 200 chains of 5 such blocks
        // from a global, each ending in a 100-byte block; 20 chains lost, to show the scan still finds leaks.
        let lastWord = try Self.compile(fixture: "last-word", in: directory)
        let chained = try Self.record(lastWord, [], in: directory)
        let chainLeaks = chained.profile.sites(.leaks).filter { ["end", "link"].contains($0.frame.function) }
        let lostEnds = chainLeaks.filter { $0.frame.function == "end" }.reduce(0) { $0 + $1.allocations }
        let lostLinks = chainLeaks.filter { $0.frame.function == "link" }.reduce(0) { $0 + $1.allocations }
        #expect(lostEnds >= 18 && lostEnds <= 20, "\(chainLeaks.map { ($0.frame.function, $0.allocations) })")
        #expect(lostLinks >= 90 && lostLinks <= 100, "\(chainLeaks.map { ($0.frame.function, $0.allocations) })")
        #expect(chained.profile.sites(.notFreed).filter { $0.frame.function == "end" }.reduce(0) { $0 + $1.allocations } == 200)
    }

    /// Cases an adversarial review found: each is checked against what the program really did.
    @Test func signalHandlersExecFailedReallocAndHeaderCodeAreToldRight() throws {
        let directory = try TemporaryDirectory()
        // An _exit from a signal handler that interrupts the hook (which holds its lock) must not deadlock.
        let alarm = try Self.compile(fixture: "alarm", in: directory)
        for round in 0..<20 {
            let capture = "\(directory.path)/alarm-\(round).heap"
            let result = try runCommand(
                "timeout", ["20", "env", "LD_PRELOAD=\(Self.hook)", "MPROF_HEAP_OUTPUT=\(capture)", alarm])
            #expect(result.status == 0, "round \(round): status \(result.status) (124: it hung)")
        }

        // A realloc that fails keeps its block: one allocation of 10 bytes, freed by free, not a temporary.
        let failing = try Self.compile(fixture: "failing", in: directory)
        let failed = try Self.record(failing, [], in: directory)
        let sizes = (0..<failed.capture.allocationCount).map { failed.capture.size(of: $0) }
        #expect(sizes.filter { $0 == 10 }.count == 1, "\(sizes)")
        let ten = try #require((0..<failed.capture.allocationCount).first { failed.capture.size(of: $0) == 10 })
        #expect(!failed.capture.isTemporary(ten) && !failed.capture.isLiveAtEnd(ten))
        #expect(!sizes.contains { $0 > 1 << 40 })

        // A program that replaces itself with one the hook cannot follow: the capture says so.
        let staticProgram = try Self.compile("int main(void) { return 0; }", named: "static", in: directory, flags: ["-static"])
        let execs = try Self.compile(fixture: "execs", in: directory)
        let replaced = try Self.record(execs, [staticProgram], in: directory)
        #expect(replaced.capture.summary.replacedBy == staticProgram)
        let text = try runProduct("mprof", ["heap", replaced.capturePath, "--view", "summary"])
        #expect(text.standardOutput.contains("replaced itself with"), "\(text.standardOutput)")

        // Without the scan, the leaks section says why, rightly.
        let program = try Self.compile(Self.knownC, named: "known", in: directory)
        let unscanned = try Self.record(program, [], in: directory, environment: ["MPROF_HEAP_REACHABILITY": "0"])
        #expect(!unscanned.capture.summary.reachabilityScanned && unscanned.capture.summary.finishedNormally)
        let leaks = try runProduct("mprof", ["heap", unscanned.capturePath, "--view", "leaks"])
        #expect(leaks.standardOutput.contains("MPROF_HEAP_REACHABILITY=0"), "\(leaks.standardOutput)")
    }

    /// C++ templates from the system's headers are compiled into the program, but the site is the program's line.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/g++"), "g++ is not installed (.ci/run installs it)"))
    func cPlusPlusAllocationsAreAttributedToTheProgramsOwnLines() throws {
        let directory = try TemporaryDirectory()
        let source = "\(directory.path)/strings.cpp", program = "\(directory.path)/strings"
        try """
            #include <string>
            #include <vector>
            static std::vector<std::string *> kept;
            __attribute__((noinline)) void deep(int depth) {
                if (depth == 0) { kept.push_back(new std::string(200, 'x')); return; }
                deep(depth - 1);
            }
            int main() {
                kept.reserve(64);
                for (int i = 0; i < 10; i++) kept.push_back(new std::string(100, 'y'));
                deep(3);
                return kept.size() == 11 ? 0 : 1;
            }
            """.write(toFile: source, atomically: true, encoding: .utf8)
        let build = try runCommand("g++", ["-O1", "-g", "-o", program, source])
        try #require(build.status == 0, "\(build.standardError)")
        let run = try Self.record(program, [], in: directory)
        let sites = run.profile.sites(.notFreed)
        // Ten strings (their object and their 100-character buffer) at main's line 10, one at deep's line 5.
        let mainStrings = sites.filter { $0.frame.function == "main" && $0.frame.line == 10 }
        #expect(mainStrings.reduce(0) { $0 + $1.allocations } == 20, "\(sites.map { ($0.frame.location, $0.allocations) })")
        let deepStrings = sites.filter { $0.frame.function.hasPrefix("deep") && $0.frame.line == 5 }
        #expect(deepStrings.reduce(0) { $0 + $1.allocations } == 2, "\(sites.map { ($0.frame.location, $0.allocations) })")
    }

    /// Daemons close every descriptor they did not open, and the number the hook had may then name one of the
    /// program's files: the hook must notice, never write there, and carry on with its own file. A program that
    /// ends with _exit runs no destructors: its capture must still be complete.
    @Test func closingEveryDescriptorAndEndingWithExitKeepTheCaptureWhole() throws {
        let directory = try TemporaryDirectory()
        let victim = "\(directory.path)/victim.txt"
        let program = try Self.compile("""
            #include <fcntl.h>
            #include <stdlib.h>
            #include <unistd.h>
            int main(void) {
                for (int descriptor = 3; descriptor < 1024; descriptor++) close(descriptor);
                int victim = open("\(victim)", O_RDWR | O_CREAT | O_TRUNC, 0644);
                // 3 million allocations: the capture grows past its first 16 MiB window after the close.
                for (int i = 0; i < 3000000; i++) { void *volatile block = malloc(64); free(block); }
                void *volatile kept = malloc(500);
                _exit(victim < 0);
            }
            """, named: "daemon", in: directory)
        let run = try Self.record(program, [], in: directory)
        #expect(try Data(contentsOf: URL(fileURLWithPath: victim)).isEmpty, "the hook wrote into the program's file")
        #expect(run.capture.summary.finishedNormally)
        #expect((0..<run.capture.allocationCount).filter { run.capture.size(of: $0) == 64 }.count == 3_000_000)
        #expect(run.capture.summary.bytesNotFreed >= 500)
    }

    static let libunwindInstalled = FileManager.default.fileExists(atPath: "/usr/lib/x86_64-linux-gnu/libunwind.so.8")

    /// The hook's own unwinder (cached rules, recent stacks reused) against libunwind on the same programs: every
    /// allocation's stack, frame for frame, the same. Swift in release and debug, threads, C with deep recursion.
    @Test(.enabled(if: libunwindInstalled, "libunwind8 is not installed (heaptrack brings it; .ci/run installs it)"))
    func theHooksUnwinderWalksTheSameStacksAsLibunwind() throws {
        let directory = try TemporaryDirectory()
        // Depths up and down across the 64 frames kept: a stack cut at its capacity must not be reused for a
        // shallower one that meets it nearer the top (it ended too soon, before the review).
        let recursive = try Self.compile(fixture: "recursive", in: directory, flags: ["-O0"])
        // Threads that come and go: each sets up its walk memory and gives it back when it ends.
        let threadChurn = try Self.compile(fixture: "thread-churn", in: directory)
        let programs: [(String, [String])] = [
            (threadChurn, []),
            (BuiltProducts.path("heap-workload"), ["known-sites", "3000", "100", "5000", "50"]),
            (BuiltProducts.path("heap-workload"), ["mixed", "20000"]),
            (BuiltProducts.path("heap-workload"), ["threads", "4", "2000", "32"]),
            (recursive, []),
        ]
        for (program, arguments) in programs {
            func stacks(_ environment: [String: String]) throws -> [String: Int] {
                let run = try Self.record(program, arguments, in: directory, environment: environment)
                let symbols = HeapSymbolizer().symbolize(run.capture)
                var counts: [String: Int] = [:]
                for index in 0..<run.capture.allocationCount {
                    let frames = run.capture.stack(of: index).flatMap { symbols.frames(at: $0) }
                    let key = "\(run.capture.size(of: index)) " + frames.map { "\($0.function):\($0.line ?? 0)" }.joined(separator: " ")
                    counts[key, default: 0] += 1
                }
                return counts
            }
            let own = try stacks([:]), reference = try stacks(["MPROF_HEAP_UNWINDER": "libunwind"])
            let differing = Set(own.keys).union(reference.keys).filter { own[$0] != reference[$0] }
            #expect(differing.isEmpty, "\(program) \(arguments): \(differing.count) stacks differ, e.g. \(differing.prefix(2))")
            #expect(own.values.reduce(0, +) > 250)
        }
    }

    /// From the second review: a program that registers a JIT's frames with libgcc (whose FDE search then sorts
    /// them, calling malloc under its own lock) must not deadlock; a library closed and another loaded at the same
    /// address must not be walked with the first one's rules; threads that come and go must not pile up memory.
    @Test func jitFramesReloadedLibrariesAndThreadChurnAreSafe() throws {
        let directory = try TemporaryDirectory()
        let registering = try Self.compile(fixture: "registering", in: directory)
        for unwinder in ["", "libunwind"] {
            let capture = "\(directory.path)/registering-\(unwinder).heap"
            let result = try runCommand(
                "timeout", ["30", "env", "LD_PRELOAD=\(Self.hook)", "MPROF_HEAP_OUTPUT=\(capture)", "MPROF_HEAP_UNWINDER=\(unwinder)", registering])
            #expect(result.status == 0, "unwinder '\(unwinder)': status \(result.status) (124: it hung)")
        }

        // Two libraries whose f calls malloc from the same offset with different frame sizes, loaded in turn at
        // the same address: each allocation's stack goes through callf and main.
        for name in ["libA", "libB"] {
            let size = name == "libA" ? 111 : 222, frame = name == "libA" ? 8 : 40
            try """
                    .text
                    .globl f
                    .type f,@function
                f:
                    .cfi_startproc
                    subq $\(frame), %rsp
                    .cfi_def_cfa_offset \(frame + 8)
                    movl $\(size), %edi
                    call malloc@PLT
                    addq $\(frame), %rsp
                    .cfi_def_cfa_offset 8
                    ret
                    .cfi_endproc
                    .size f, .-f
                    .section .note.GNU-stack,"",@progbits
                """.write(toFile: "\(directory.path)/\(name).S", atomically: true, encoding: .utf8)
            let build = try runCommand("cc", ["-shared", "-o", "\(directory.path)/\(name).so", "\(directory.path)/\(name).S"])
            try #require(build.status == 0, "\(build.standardError)")
        }
        let loader = try Self.compile(fixture: "loader", in: directory)
        let reloaded = try Self.record(loader, ["\(directory.path)/libB.so", "\(directory.path)/libA.so", "\(directory.path)/libB.so"], in: directory)
        let symbols = HeapSymbolizer().symbolize(reloaded.capture)
        for index in 0..<reloaded.capture.allocationCount where [111, 222].contains(reloaded.capture.size(of: index)) {
            let functions = reloaded.capture.stack(of: index).flatMap { symbols.frames(at: $0) }.map(\.function)
            #expect(functions.contains("callf") && functions.contains("main"), "\(reloaded.capture.size(of: index)): \(functions)")
            // Each allocation named after its own library, though both were at the same address in turn.
            let library = reloaded.capture.stack(of: index).flatMap { symbols.frames(at: $0) }.first { $0.function == "f" }?.module
            let expected = reloaded.capture.size(of: index) == 111 ? "libA.so" : "libB.so"
            #expect(library == expected, "\(reloaded.capture.size(of: index)) bytes named after \(library ?? "nothing")")
        }

        // 3,000 threads, one after another, each allocating: the hook gives back each thread's memory.
        let churn = try Self.compile(fixture: "churn", in: directory)
        let churned = try Self.record(churn, [], in: directory)
        let residentKiB = try #require(Int(churned.result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(residentKiB < 32 * 1024, "\(residentKiB) KiB resident after 3,000 threads")
        #expect((0..<churned.capture.allocationCount).filter { churned.capture.size(of: $0) == 100 }.count == 3000)
    }

    /// Without libunwind (a machine without heaptrack's libunwind8), stacks come from libgcc's unwinder: slower,
    /// the same stacks.
    @Test func stacksAreTheSameWithLibgccsUnwinder() throws {
        let directory = try TemporaryDirectory()
        let program = try Self.compile(Self.knownC, named: "known", in: directory)
        let run = try Self.record(program, [], in: directory, environment: ["MPROF_HEAP_UNWINDER": "libgcc"])
        #expect(run.capture.unwinder == "libgcc")
        let top = try #require(run.profile.sites(.peak).first)
        #expect(top.bytes == 100_000 && top.frame.function == "make", "\(top)")
        #expect(top.stack.contains { $0.function == "build" } && top.stack.contains { $0.function == "main" }, "\(top.stack)")
    }

    @Test func childrenTheProgramStartsAreListedAsNotRecorded() throws {
        let directory = try TemporaryDirectory()
        let program = try Self.compile(fixture: "parent", in: directory)
        let run = try Self.record(program, [], in: directory)
        let list = try String(contentsOfFile: run.capturePath + ".children", encoding: .utf8)
        #expect(list.contains("exec ") && list.contains("true"), "\(list)")
        #expect(list.contains("fork "), "\(list)")
        #expect(run.result.standardError.contains("2 processes started by"), "\(run.result.standardError)")
        // The parent's own capture is whole: the 1000-byte block, allocated and freed.
        #expect((0..<run.capture.allocationCount).contains { run.capture.size(of: $0) == 1000 })
        #expect(run.capture.summary.finishedNormally)
    }

    @Test func programsTheHookCannotSeeIntoAreRefusedBeforeTheyRun() throws {
        let directory = try TemporaryDirectory()
        let staticProgram = try Self.compile("int main(void) { return 0; }", named: "static", in: directory, flags: ["-static"])
        let refused = try runProduct("mprof", ["run", "--heap", "-o", "\(directory.path)/s.dat", staticProgram])
        #expect(refused.status != 0)
        #expect(refused.standardError.contains("statically linked"), "\(refused.standardError)")
        #expect(!FileManager.default.fileExists(atPath: "\(directory.path)/s.dat"))
        #expect(!FileManager.default.fileExists(atPath: "\(directory.path)/s.heap"))

        let setID = try Self.compile("int main(void) { return 0; }", named: "setid", in: directory)
        try FileManager.default.setAttributes([.posixPermissions: 0o4755], ofItemAtPath: setID)
        let refusedSetID = try runProduct("mprof", ["run", "--heap", "-o", "\(directory.path)/u.dat", setID])
        #expect(refusedSetID.status != 0)
        #expect(refusedSetID.standardError.contains("set-user-ID"), "\(refusedSetID.standardError)")

        // A script whose #! interpreter is that set-ID program named without a slash: the kernel opens it in the
        // current directory (it was not checked, and the run recorded nothing); and a script that names itself
        // (mprof recursed until its stack overflowed).
        try "#!setid\n".write(toFile: "\(directory.path)/uses-setid", atomically: true, encoding: .utf8)
        try "#!\(directory.path)/itself\n".write(toFile: "\(directory.path)/itself", atomically: true, encoding: .utf8)
        for script in ["uses-setid", "itself"] {
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(directory.path)/\(script)")
            let run = try runCommand(
                "/bin/sh", ["-c", "cd '\(directory.path)' && exec '\(BuiltProducts.path("mprof"))' run --heap -o \(script).dat ./\(script)"])
            #expect(run.status == 1, "\(script): status \(run.status): \(run.standardError)")
            let reason = script == "itself" ? "nest more than 4 deep" : "set-user-ID"
            #expect(run.standardError.contains(reason), "\(script): \(run.standardError)")
        }

        let missingHook = try runProduct(
            "mprof", ["run", "--heap", "-o", "\(directory.path)/h.dat", "/bin/true"],
            environment: ["MPROF_HEAP_HOOK": "\(directory.path)/no-such-hook.so"])
        #expect(missingHook.status != 0)
        #expect(missingHook.standardError.contains("MPROF_HEAP_HOOK"), "\(missingHook.standardError)")
    }

    static let jemallocInstalled = FileManager.default.fileExists(atPath: "/usr/lib/x86_64-linux-gnu/libjemalloc.so")

    /// Under jemalloc, a block reached only through a pointer into its last word is reachable: the end of a block
    /// is kept from counting as a reference only where glibc's next chunk begins there (the scan once applied
    /// glibc's rule to every allocator and called such a block leaked).
    @Test(.enabled(if: jemallocInstalled, "libjemalloc-dev is not installed (apt-get install libjemalloc-dev; .ci/run does)"))
    func aPointerIntoALastWordKeepsItsBlockUnderEveryAllocator() throws {
        let directory = try TemporaryDirectory()
        let program = try Self.compile(fixture: "last-word-pointer", in: directory)
        for allocator in ["", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"] {
            let run = try Self.record(program, [], in: directory, environment: allocator.isEmpty ? [:] : ["LD_PRELOAD": allocator])
            let leaks = run.profile.sites(.leaks)
            #expect(!leaks.contains { $0.frame.function == "keep" }, "\(allocator): \(leaks.map { ($0.frame.function, $0.allocations) })")
            #expect(leaks.filter { $0.frame.function == "lose" }.reduce(0) { $0 + $1.allocations } >= 8, "\(allocator)")
        }
    }

    /// A server built the way Vapor's and Hummingbird's templates build it: the Swift runtime linked in
    /// (--static-swift-stdlib) and jemalloc linked dynamically. Its allocations still pass through the shared
    /// malloc, so they are all recorded (without Swift types: swift_allocObject is inside the executable then);
    /// with jemalloc linked statically they are not, and mprof says so before the run.
    @Test(.enabled(if: jemallocInstalled, "libjemalloc-dev is not installed (apt-get install libjemalloc-dev; .ci/run does)"))
    func aProgramBuiltLikeVaporsTemplateIsProfiledThroughJemalloc() throws {
        let directory = try TemporaryDirectory()
        let source = "\(directory.path)/server.swift"
        try """
            import Glibc
            final class Entry { let id: Int; let weight: Int; init(_ id: Int) { self.id = id; weight = id * 2 } }
            nonisolated(unsafe) var entries: [Entry] = []
            @inline(never) func fill(_ count: Int) { entries.reserveCapacity(count); for i in 0..<count { entries.append(Entry(i)) } }
            fill(20000)
            // The witness that jemalloc serves the allocations: it is mapped into the process.
            var maps = [UInt8](repeating: 0, count: 1 << 20)
            let descriptor = open("/proc/self/maps", O_RDONLY)
            var length = 0
            while true {
                let count = maps.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + length, $0.count - length) }
                if count <= 0 { break }
                length += count
            }
            print(String(decoding: maps[..<length], as: UTF8.self).contains("libjemalloc") ? "jemalloc" : "no jemalloc", entries.count)
            """.write(toFile: source, atomically: true, encoding: .utf8)
        let server = "\(directory.path)/server"
        let build = try runCommand("swiftc", ["-O", "-g", "-static-stdlib", source, "-o", server, "-Xlinker", "-ljemalloc"])
        try #require(build.status == 0, "\(build.standardError)")
        let run = try Self.record(server, [], in: directory)
        #expect(run.result.standardOutput == "jemalloc 20000\n", "\(run.result.standardOutput)")
        // One site without types: 20,000 Entry objects of 32 bytes and the array's buffer (32 + 8 × 20,000).
        let fill = run.profile.sites(.peak).filter { $0.frame.function == "fill(_:)" }
        #expect(fill.count == 1 && fill.first?.allocations == 20001, "\(fill.map { ($0.allocations, $0.bytes) })")
        #expect(fill.first?.bytes == 20000 * 32 + 32 + 8 * 20000, "\(fill.map { ($0.allocations, $0.bytes) })")
        #expect(fill.first?.frame.line == 4, "\(String(describing: fill.first?.frame))")
        #expect(run.capture.types.isEmpty, "swift_allocObject cannot be seen in a -static-stdlib program")

        let staticServer = "\(directory.path)/server-static-jemalloc"
        let staticBuild = try runCommand(
            "swiftc", ["-O", "-static-stdlib", source, "-o", staticServer, "-Xlinker", "/usr/lib/x86_64-linux-gnu/libjemalloc_pic.a"])
        try #require(staticBuild.status == 0, "\(staticBuild.standardError)")
        let warned = try runProduct("mprof", ["run", "--heap", "-o", "\(directory.path)/static.dat", staticServer])
        #expect(warned.status == 0, "\(warned.standardError)")
        #expect(warned.standardError.contains("has its own malloc linked in"), "\(warned.standardError)")
        let missed = try HeapCapture(path: "\(directory.path)/static.heap")
        #expect(missed.allocationCount < 1000, "a static jemalloc's allocations should not be seen: \(missed.allocationCount)")
    }

    /// Two runs with the same -o: the second must not replace the capture the first is still writing.
    @Test func aCaptureBeingWrittenIsNotReplacedByASecondRun() throws {
        let directory = try TemporaryDirectory()
        let first = try ChildProcess.spawn(
            BuiltProducts.path("mprof"), arguments: ["run", "--heap", "-o", "\(directory.path)/same.dat", "sh", "-c", "sleep 1.5"],
            standardInput: .null, standardOutput: .null, standardError: .null)
        // Until the first run's hook has its capture open.
        let capture = "\(directory.path)/same.heap"
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: capture) { usleep(20_000) }
        let second = try runProduct("mprof", ["run", "--heap", "-o", "\(directory.path)/same.dat", "/bin/true"])
        #expect(second.status != 0 && second.standardError.contains("is being written by another mprof run"), "\(second.standardError)")
        #expect(try first.wait().shellStatus == 0)
        let written = try HeapCapture(path: capture)
        #expect(written.summary.finishedNormally && written.executable.hasSuffix("sh"), "\(written.executable)")
    }

    /// The resident set and lifetime peak of a heap-profiled run stay the program's, give or take the hook's tables:
    /// the capture's pages do not pile up in the program (the hook maps 1 MiB of it at a time and gives back what the
    /// exit scan has read). With the whole capture mapped, this run's peak was higher by the capture's size (31 MB).
    @Test func theCapturesPagesStayOutOfTheProgramsPeak() throws {
        let directory = try TemporaryDirectory()
        let workload = BuiltProducts.path("heap-workload")
        func peak(_ file: String) throws -> Double {
            let result = try runProduct("mprof", ["peak", file])
            let field = result.standardOutput.split(separator: "\t").dropFirst().first ?? ""
            return try #require(Double(field.split(separator: " ").first ?? ""), "\(result.standardOutput)")
        }
        #expect(try runProduct("mprof", ["run", "-o", "\(directory.path)/plain.dat", workload, "mixed", "3000000"]).status == 0)
        #expect(try runProduct("mprof", ["run", "--heap", "-o", "\(directory.path)/heap.dat", workload, "mixed", "3000000"]).status == 0)
        // The same run's capture as the hook writes it (mprof compresses it afterwards): tens of megabytes.
        let raw = "\(directory.path)/raw.heap"
        #expect(try runProduct(
            "heap-workload", ["mixed", "3000000"], environment: ["LD_PRELOAD": Self.hook, "MPROF_HEAP_OUTPUT": raw]).status == 0)
        let rawMiB = Double(try FileStatus(path: raw).size) / 1_048_576
        #expect(rawMiB > 20, "\(rawMiB) MiB")
        let plain = try peak("\(directory.path)/plain.dat"), profiled = try peak("\(directory.path)/heap.dat")
        #expect(profiled - plain < 10, "peak \(profiled) MiB profiled against \(plain) MiB, capture \(rawMiB) MiB")
    }

    /// A program whose capture holds every kind of event the stored form rewrites: a realloc that fails (a restore),
    /// a free the hook does not see and a block allocated again at its address (a replaced block), a free of a block
    /// the hook never saw allocated, threads, and leaks.
    static let everyEventC = HeapProfilingTests.fixture("every-event")

    /// The leak scan at exit replays the capture the hook wrote, so it must read every record the hook writes: a
    /// region's marks, an exec that failed, threads, a failed realloc's restore, conditions. (It stopped at a
    /// region's 'G', so a program that profiled a region of itself under `mprof run --heap` got no leak scan, and a
    /// reason that blamed memory.) The 40 blocks of 48 bytes the program loses must come out as leaks.
    @Test func theLeakScanReadsEveryRecordTheHookWrites() throws {
        let directory = try TemporaryDirectory()
        let program = try Self.compile(fixture: "every-record", in: directory)
        let run = try runProduct("mprof", ["run", "--heap", "-o", "\(directory.path)/run.dat", program])
        #expect(run.status == 0, "\(run.standardError)")
        let capture = try HeapCapture(path: "\(directory.path)/run.heap")
        #expect(capture.summary.reachabilityScanned, "\(capture.summary.leakScanFailure ?? "no reason given")")
        #expect(capture.summary.leakScanFailure == nil)
        // Conservative, as LeakSanitizer: a stale copy of a lost pointer (a dead stack slot) keeps a block or two.
        let leaked = capture.summary.blocksLeaked
        #expect(leaked >= 35 && leaked <= 40 && capture.summary.bytesLeaked == leaked * 48, "\(capture.summary)")
    }

    /// The stored form mprof writes after a run (allocation sites and allocation numbers in place of addresses,
    /// compressed) reads to exactly what the hook's own capture reads to: every figure of the summary, the heap
    /// over time, and every stack's bytes in every view.
    @Test func theStoredFormReadsAsTheHooksCapture() throws {
        let directory = try TemporaryDirectory()
        let program = try Self.compile(Self.everyEventC, named: "every-event", in: directory)
        let workload = BuiltProducts.path("heap-workload")
        let programs: [(String, [String])] = [
            (program, []), (workload, ["known-sites", "2000", "100", "3000", "50"]), (workload, ["mixed", "200000"]),
            (workload, ["threads", "4", "5000", "48"]),
        ]
        for (index, (path, arguments)) in programs.enumerated() {
            let raw = "\(directory.path)/raw-\(index).heap", stored = "\(directory.path)/stored-\(index).heap"
            let run = try runCommand(path, arguments, environment: ["LD_PRELOAD": Self.hook, "MPROF_HEAP_OUTPUT": raw])
            try #require(run.status == 0, "\(run.standardError)")
            try FileManager.default.copyItem(atPath: raw, toPath: stored)
            let symbols = try HeapSymbolizer().storeNames(inCaptureAt: stored)
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: stored)))
            #expect(bytes.starts(with: Array("MPROFHZ2".utf8)))
            let hooks = try HeapCapture(path: raw), ours = try HeapCapture(path: stored)
            #expect(ours.summary == hooks.summary, "\(path) \(arguments)")
            #expect(ours.allocationCount == hooks.allocationCount)
            #expect(ours.heapTimeline.map(\.time) == hooks.heapTimeline.map(\.time))
            #expect(ours.heapTimeline.map(\.bytes) == hooks.heapTimeline.map(\.bytes))
            let hooksProfile = HeapProfile(hooks, symbols: symbols), ourProfile = HeapProfile(ours, symbols: symbols)
            for view in HeapProfile.View.allCases {
                #expect(ourProfile.collapsedStacks(view) == hooksProfile.collapsedStacks(view), "\(view) of \(path) \(arguments)")
            }
            if index == 0 {
                // The events the stored form rewrites were there to rewrite.
                #expect(hooks.summary.freesOfUnknownBlocks == 1, "\(hooks.summary)")
                // Of the 50 lost blocks, the conservative scan still finds stale copies of some pointers.
                #expect(hooks.summary.blocksLeaked >= 20, "\(hooks.summary)")
                #expect(hooks.summary.frees >= 60_000 + 150 + 2, "\(hooks.summary)")
            }
        }
    }

    /// A finished capture takes no more room than heaptrack's (its interpreted, zstd-compressed file) for the same
    /// allocations, on a loop (`mixed`: 122 sites in turn) and on a program of many sites. (Not on threads that
    /// allocate in lockstep: a capture records which thread made each allocation and free, heaptrack's does not, and
    /// when threads take turns every few calls that is most of what there is to store; see the README.)
    @Test(.enabled(if: heaptrackInstalled, "heaptrack is not installed (apt-get install heaptrack; .ci/run does)"))
    func capturesTakeNoMoreRoomThanHeaptracks() throws {
        for arguments in [["mixed", "400000"], ["known-sites", "20000", "100", "100000", "500"]] {
            let directory = try TemporaryDirectory()
            let output = "\(directory.path)/heaptrack.out"
            let traced = try runCommand("heaptrack", ["-o", output, BuiltProducts.path("heap-workload")] + arguments)
            try #require(traced.status == 0, "\(traced.standardError)")
            let file = try #require(try FileManager.default.contentsOfDirectory(atPath: directory.path).first { $0.hasPrefix("heaptrack.out") })
            let theirs = try FileStatus(path: "\(directory.path)/\(file)").size
            let ours = try Self.record(BuiltProducts.path("heap-workload"), arguments, in: directory)
            let size = try FileStatus(path: ours.capturePath).size
            #expect(ours.capture.summary.allocations >= Int(arguments[1])!, "\(ours.capture.summary)")
            #expect(size <= theirs, "\(arguments): ours \(size) bytes, heaptrack's \(theirs)")
            print("capture size \(arguments): mprof \(size) bytes, heaptrack \(theirs) bytes")
        }
    }

    /// A program with leaks of every shape the scan must tell apart — lost pointers, cycles, chains from a global,
    /// a pointer into a block's middle or in its last word, a block held only on a live thread's stack — built twice:
    /// as it is, under `mprof run --heap`, and with AddressSanitizer, whose LeakSanitizer is the witness. Per function,
    /// the blocks each calls leaked agree (both scans are conservative: a stale copy of a pointer can keep a lost
    /// block off either list, so a few may differ).
    static let leakShapesC = HeapProfilingTests.fixture("leak-shapes")

    static let clangPath = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        .map { "\($0)/clang" }.first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(.enabled(if: clangPath != nil, "clang is not on PATH (it ships with Swift)"))
    func leaksAgreeWithLeakSanitizer() throws {
        let directory = try TemporaryDirectory()
        let program = try Self.compile(Self.leakShapesC, named: "leak-shapes", in: directory)
        let sanitized = "\(directory.path)/leak-shapes-asan"
        let build = try runCommand(
            try #require(Self.clangPath), ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address", "-o", sanitized, "\(directory.path)/leak-shapes.c", "-lpthread"])
        try #require(build.status == 0, "\(build.standardError)")
        let witness = try runCommand(sanitized, [], environment: ["ASAN_OPTIONS": "detect_leaks=1"])
        // "Direct leak of 4800 byte(s) in 100 object(s) allocated from:", then frames: #0 malloc, #1 the caller.
        var theirs: [String: Int] = [:]
        var pending: Int?
        for line in witness.standardError.split(separator: "\n") {
            let words = line.split(separator: " ")
            if line.hasPrefix("Direct leak of ") || line.hasPrefix("Indirect leak of ") {
                pending = words.firstIndex(of: "in").flatMap { Int(words[$0 + 1]) }
            } else if let count = pending, words.first == "#1", let index = words.firstIndex(of: "in"), index + 1 < words.count {
                theirs[String(words[index + 1]), default: 0] += count
                pending = nil
            }
        }
        try #require(!theirs.isEmpty, "LeakSanitizer reported nothing: \(witness.standardError.suffix(2000))")

        let run = try Self.record(program, [], in: directory)
        var ours: [String: Int] = [:]
        for site in run.profile.sites(.leaks) where !site.frame.isSystem { ours[site.frame.function, default: 0] += site.allocations }
        for function in ["lose", "cycle", "linked", "end", "chain", "inside", "holder", "main", "build"] {
            let (a, b) = (ours[function] ?? 0, theirs[function] ?? 0)
            #expect(abs(a - b) <= max(2, b / 20), "\(function): mprof \(a), LeakSanitizer \(b); mprof \(ours), LeakSanitizer \(theirs)")
        }
        // The shapes are there to be told apart: LeakSanitizer's own counts.
        #expect((theirs["lose"] ?? 0) >= 95 && (theirs["cycle"] ?? 0) >= 95 && (theirs["end"] ?? 0) >= 18, "\(theirs)")
        #expect(theirs["chain"] == nil && theirs["inside"] == nil && theirs["holder"] == nil, "\(theirs)")
        print("leaks per function: mprof \(ours.sorted { $0.key < $1.key }), LeakSanitizer \(theirs.sorted { $0.key < $1.key })")
    }

    @Test func damagedCapturesAreClearErrors() throws {
        let directory = try TemporaryDirectory()
        let program = try Self.compile(Self.knownC, named: "known", in: directory)
        // The hook's own capture, as it leaves it (mprof names and compresses it after the run: that form too).
        let raw = "\(directory.path)/raw.heap"
        let hooked = try runCommand(program, [], environment: ["LD_PRELOAD": Self.hook, "MPROF_HEAP_OUTPUT": raw])
        #expect(hooked.status == 0, "\(hooked.standardError)")
        let good = try [UInt8](Data(contentsOf: URL(fileURLWithPath: raw)))
        #expect(good.starts(with: Array("MPROFHP1".utf8)))
        let run = try Self.record(program, [], in: directory)
        let compressed = try [UInt8](Data(contentsOf: URL(fileURLWithPath: run.capturePath)))
        #expect(compressed.starts(with: Array("MPROFHZ2".utf8)))
        // The compressed form holds the names too (most of it, for so small a program).
        #expect(compressed.count * 4 < good.count, "compressed \(compressed.count), raw \(good.count)")
        var cases: [(String, [UInt8])] = [
            ("empty", []),
            ("not a capture", Array("time 1 2\n".utf8)),
            ("magic only", Array(good.prefix(8))),
            ("unknown record", Array(good.prefix(40)) + [0x7F, 1, 2, 3]),
            ("endless number", Array(good.prefix(40)) + [UInt8(ascii: "T")] + [UInt8](repeating: 0xFF, count: 20)),
        ]
        // Every prefix of a good capture is readable or a clear error (a cut in a record ends it, like a kill).
        for length in stride(from: 8, to: good.count, by: max(1, good.count / 200)) {
            cases.append(("prefix \(length)", Array(good.prefix(length))))
        }
        // Flipped bytes: errors or smaller captures, never a crash; in the raw and the compressed form.
        var generator = SystemRandomNumberGenerator()
        for trial in 0..<100 {
            for (form, original) in [("raw", good), ("compressed", compressed)] {
                var damaged = original
                for _ in 0..<3 { damaged[Int.random(in: 8..<damaged.count, using: &generator)] ^= UInt8.random(in: 1...255, using: &generator) }
                cases.append(("flipped \(form) \(trial)", damaged))
            }
        }
        for length in stride(from: 8, to: compressed.count, by: max(1, compressed.count / 50)) {
            cases.append(("compressed prefix \(length)", Array(compressed.prefix(length))))
        }
        for (name, bytes) in cases {
            do {
                let capture = try HeapCapture(bytes: bytes, name: name)
                #expect(capture.allocationCount <= 2000, "\(name)")
                _ = HeapProfile(capture, symbols: HeapSymbolizer(symbolizer: nil, demangler: nil).symbolize(capture)).sites(.peak)
            } catch {
                #expect(error.code == .unexpectedFormat, "\(name): \(error)")
                #expect(error.message.contains(name), "\(error.message)")
            }
        }
        // Hand-made captures the review crafted: each an error, at once (no crash, no overflow, no hang).
        func number(_ value: UInt64) -> [UInt8] {
            var value = value, bytes: [UInt8] = []
            while value >= 0x80 { bytes.append(UInt8(truncatingIfNeeded: value) | 0x80); value >>= 7 }
            return bytes + [UInt8(value)]
        }
        let begin = Array("MPROFHP1".utf8) + [UInt8(ascii: "B")] + number(1) + number(42) + number(0) + number(4096) + number(0) + number(0)
        let allocation = { (size: UInt64, delta: UInt64) in [UInt8(ascii: "A")] + number(size) + number(0) + number(delta) }
        var hostile: [(String, [UInt8])] = []
        hostile.append(("allocation after unreachable", begin + allocation(16, 2) + [UInt8(ascii: "U"), 0] + allocation(16, 64) + [UInt8(ascii: "X"), 0, 0, 0]))
        var huge = begin
        for _ in 0..<40_000 { huge += allocation(1 << 48, 64) }
        hostile.append(("sizes that overflow", huge))
        var deep = begin
        for node in 0..<100_000 { deep += [UInt8(ascii: "S")] + number(UInt64(node)) + number(0x1000) }
        hostile.append(("a chain of 100000 frames", deep))
        for (name, bytes) in hostile {
            #expect(throws: MemoryError.self, "\(name)") { try HeapCapture(bytes: bytes, name: name) }
        }

        let file = "\(directory.path)/bad.heap"
        try Data("MPROFHP1Q".utf8).write(to: URL(fileURLWithPath: file))
        let result = try runProduct("mprof", ["heap", file])
        #expect(result.status != 0)
        #expect(result.standardError.contains("is not a readable heap capture"), "\(result.standardError)")
    }
}
