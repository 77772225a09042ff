import Foundation
import MemoryProfiler
import MemoryProfilerSystem
import MemoryProfilerTestSupport
import Testing

/// `mprof explain PID` on a program of known composition (Tests/Fixtures/composition/composition.c): each part
/// within 5 % of what the program built, and the parts adding up to the kernel's own VmRSS within 1 %.
@Suite(.serialized)
struct ExplainCommandTests {
    static let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/composition/composition.c").standardized.path
    static let mebibyte = 1 << 20

    struct Report: Decodable {
        struct Part: Decodable {
            var category: String
            var resident: Int
            var proportional: Int
        }
        var processID: Int32
        var command: String
        var resident: Int
        var proportional: Int
        var threads: Int
        var parts: [Part]
    }

    /// The first line the child writes on its standard output (its "ready", once everything is built).
    static func firstLine(of child: ChildProcess) -> String {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while let output = child.standardOutput, read(output, &byte, 1) == 1, byte != UInt8(ascii: "\n") { line.append(byte) }
        return String(decoding: line, as: UTF8.self)
    }

    @Test func eachPartOfAKnownCompositionIsWithinFivePercent() throws {
        let directory = try TemporaryDirectory()
        let program = "\(directory.path)/composition"
        // Compiled by cc in a process of its own: no descriptor of ours open on the file when it runs.
        let compile = try runCommand("cc", ["-O1", "-o", program, Self.source, "-lpthread"])
        try #require(compile.status == 0, "\(compile.standardError)")
        let child = try ChildProcess.spawn(
            program, arguments: ["\(directory.path)/data"], standardInput: .pipe, standardOutput: .pipe)
        defer {
            child.closePipes()
            _ = try? child.wait()
        }
        // Its first line, once everything is built ("ready").
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while let output = child.standardOutput, read(output, &byte, 1) == 1, byte != UInt8(ascii: "\n") { line.append(byte) }
        let ready = String(decoding: line, as: UTF8.self)
        try #require(ready.hasPrefix("ready"), "the program did not start: \(ready)")

        let result = try runProduct("mprof", ["explain", String(child.pid), "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let report = try JSONDecoder().decode(Report.self, from: Data(result.standardOutput.utf8))
        // The kernel's own count, read right after: the witness that the parts are all of it.
        let status = try String(contentsOfFile: "/proc/\(child.pid)/status", encoding: .utf8)
        let vmRSS = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true)[1]) }) * 1024
        #expect(abs(Double(report.resident - vmRSS)) <= 0.01 * Double(vmRSS), "parts \(report.resident), VmRSS \(vmRSS)")
        #expect(report.parts.reduce(0) { $0 + $1.resident } == report.resident)
        #expect(report.threads == 9 && report.command == "composition", "\(report.threads) \(report.command)")

        func part(_ name: String) -> Int { report.parts.first { $0.category == name }?.resident ?? -1 }
        func near(_ name: String, _ truth: Int) {
            #expect(abs(Double(part(name) - truth)) <= 0.05 * Double(truth), "\(name): \(part(name)) for \(truth)")
        }
        // 250 MiB of 1,016-byte blocks in 1,024-byte chunks (200 of it freed but held), a 100 MiB file read,
        // 8 stacks with 8 MiB touched, 64 MiB mapped by hand and 16 MiB of the file written through a private mapping.
        near("malloc-heap", 250 * Self.mebibyte / 1016 * 1024)
        near("mapped-files", 100 * Self.mebibyte)
        near("thread-stacks", 64 * Self.mebibyte)
        near("other-anonymous", (64 + 16) * Self.mebibyte)
        #expect(part("code") > 0 && part("code") < 20 * Self.mebibyte, "\(part("code"))")
        // The largest mappings name the written private copy's part as the totals count it: other anonymous.
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        let mappings = try #require(json["largestMappings"] as? [[String: Any]])
        let copy = mappings.first { ($0["writtenCopies"] as? Int ?? 0) > 0 }
        #expect(copy?["category"] as? String == "other-anonymous", "\(mappings.prefix(6))")
        #expect(abs((copy?["writtenCopies"] as? Int ?? 0) - 16 * Self.mebibyte) <= Self.mebibyte, "\(String(describing: copy))")
        #expect(mappings.contains { $0["category"] as? String == "mapped-files" && ($0["resident"] as? Int ?? 0) >= 95 * Self.mebibyte })

        // The picture: one bar, a part per category with its bytes.
        let picture = "\(directory.path)/parts.svg"
        #expect(try runProduct("mprof", ["explain", String(child.pid), "-o", picture, "--top", "0"]).status == 0)
        let svg = try String(contentsOfFile: picture, encoding: .utf8)
        var drawn: [String: Int] = [:]
        for piece in svg.components(separatedBy: "<g class=\"part\"").dropFirst() {
            let tag = piece.prefix { $0 != ">" }
            func attribute(_ name: String) -> String? {
                guard let range = tag.range(of: " \(name)=\"") else { return nil }
                return String(tag[range.upperBound...].prefix { $0 != "\"" })
            }
            if let part = attribute("data-part"), let bytes = attribute("data-bytes").flatMap(Int.init) { drawn[part] = bytes }
        }
        for name in ["malloc-heap", "mapped-files", "thread-stacks", "other-anonymous"] {
            #expect(abs(Double((drawn[name] ?? 0) - part(name))) <= 0.01 * Double(part(name)), "\(name): drawn \(drawn[name] ?? -1)")
        }
        #expect(try runCommand("rsvg-convert", [picture, "-o", "\(directory.path)/parts.png"]).status == 0)

        // A thread's ID is refused, naming its process.
        let task = try #require(try FileManager.default.contentsOfDirectory(atPath: "/proc/\(child.pid)/task").compactMap(Int32.init).first { $0 != child.pid })
        let thread = try runProduct("mprof", ["explain", String(task)])
        #expect(thread.status == 1 && thread.standardError.contains("is a thread of process \(child.pid)"), "\(thread.standardError)")

        let text = try runProduct("mprof", ["explain", String(child.pid)])
        #expect(text.status == 0)
        #expect(text.standardOutput.contains("(composition)") && text.standardOutput.contains("[heap]")
            && text.standardOutput.contains("\(directory.path)/data"), "\(text.standardOutput)")
    }

    /// A cgroup the test makes (as root), with a 256 MiB limit: a process in it holding 100 MiB is seen in it, with
    /// the limit and the headroom; a second one asking for 300 MiB is killed by the kernel, and the cgroup's OOM kill
    /// count says so. Through cgroup v2 where it has the memory controller, v1's memory hierarchy otherwise.
    static let ownCgroup = try? CgroupMemory.of(.current)

    @Test(.enabled(if: getuid() == 0 && ownCgroup != nil, "needs root and a cgroup memory controller (v2 with memory, or v1's memory hierarchy)"))
    func theContainersViewIsTheCgroupsOwn() throws {
        let own = try #require(Self.ownCgroup)
        // The limit is set on a parent (as a slice or a pod sets it); the processes are in its child.
        let parent = own.directory + "/mprof-test-\(UUID().uuidString.prefix(8))"
        let directory = parent + "/work"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer {
            rmdir(directory)
            rmdir(parent)
        }
        let limit = 256 * Self.mebibyte
        switch own.version {
        case .v1: try "\(limit)".write(toFile: "\(parent)/memory.limit_in_bytes", atomically: false, encoding: .utf8)
        case .v2: try "\(limit)".write(toFile: "\(parent)/memory.max", atomically: false, encoding: .utf8)
        }
        func join(_ process: ProcessID) throws {
            try "\(process.rawValue)".write(toFile: "\(directory)/cgroup.procs", atomically: false, encoding: .utf8)
        }
        let holder = try Workload()
        try join(holder.id)
        #expect(try holder.send("alloc 100") == "ok")

        let memory = try CgroupMemory.of(holder.id)
        #expect(memory.version == own.version && memory.directory == directory && memory.path.hasSuffix(String(directory.split(separator: "/").last ?? "")))
        #expect(memory.limit?.bytes == limit, "\(memory)")
        #expect(memory.current.bytes >= 100 * Self.mebibyte && memory.current.bytes <= 140 * Self.mebibyte, "\(memory)")
        #expect(memory.headroom?.bytes == limit - memory.current.bytes)
        #expect((memory.anonymous?.bytes ?? 0) >= 95 * Self.mebibyte, "\(memory)")
        #expect((memory.peak?.bytes ?? 0) >= memory.current.bytes, "\(memory)")
        #expect(memory.outOfMemoryKills == 0, "\(memory)")

        // 300 MiB more does not fit: the kernel kills the one asking.
        let greedy = try Workload()
        try join(greedy.id)
        _ = try? greedy.send("alloc 300")
        let termination = try greedy.finish()
        #expect(termination == .signaled(SIGKILL), "\(termination)")
        let after = try runProduct("mprof", ["explain", String(holder.id.rawValue), "--json"])
        #expect(after.status == 0, "\(after.standardError)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(after.standardOutput.utf8)) as? [String: Any])
        let cgroup = try #require(json["cgroup"] as? [String: Any], "\(after.standardOutput.prefix(800))")
        #expect(cgroup["outOfMemoryKills"] as? Int == 1 && cgroup["limit"] as? Int == limit, "\(cgroup)")
        let text = try runProduct("mprof", ["explain", String(holder.id.rawValue), "--top", "0"])
        #expect(text.standardOutput.contains("of a 256.0 MiB limit") && text.standardOutput.contains("OOM kills 1"), "\(text.standardOutput)")
        _ = try holder.finish()
    }

    /// `mprof run --explain`: the breakdown near the peak of a program that holds 50 MiB from malloc (a block that
    /// large is glibc's own mapping: other anonymous), and under --heap the heap in use at that moment.
    @Test func runExplainBreaksDownThePeak() throws {
        let directory = try TemporaryDirectory()
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../Fixtures/verdict/verdict.c").standardized.path
        let program = "\(directory.path)/verdict"
        try #require(try runCommand("cc", ["-O1", "-o", program, source]).status == 0)
        for heap in [false, true] {
            let run = try runProduct(
                "mprof", ["run", "--explain"] + (heap ? ["--heap"] : []) + ["-o", "\(directory.path)/run\(heap).dat", program, "steady"])
            #expect(run.status == 0, "\(run.standardError)")
            let lines = run.standardError.split(separator: "\n")
            #expect(lines.contains { $0.contains("near the peak") }, "\(run.standardError)")
            #expect(lines.contains { $0.hasPrefix("mprof: verdict: steady:") }, "\(run.standardError)")
            let anonymous = lines.first { $0.hasPrefix("  other anonymous") }
                .flatMap { Double($0.split(separator: " ", omittingEmptySubsequences: true)[2]) }
            #expect((anonymous ?? 0) >= 49 && (anonymous ?? 0) <= 53, "\(run.standardError)")
            if heap {
                let inUse = lines.first { $0.hasPrefix("The heap in use then") }
                #expect(inUse?.contains("50.0 MiB") == true, "\(run.standardError)")
            }
        }
    }

    @Test func badTargetsAreClearErrors() throws {
        // Above the largest PID the kernel gives out: no such process.
        let maximum = Int(String(decoding: try ProcessTable.readSmallFile("/proc/sys/kernel/pid_max"), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 4_194_304
        let missing = try runProduct("mprof", ["explain", String(maximum + 1)])
        #expect(missing.status == 1 && missing.standardError.contains("no process with PID"), "\(missing.standardError)")
        let kernel = try runProduct("mprof", ["explain", "2"])
        #expect(kernel.status == 1 && kernel.standardError.contains("kernel thread"), "\(kernel.standardError)")
        for bad in ["0", "-5", "abc", "99999999999"] {
            let result = try runProduct("mprof", ["explain", bad])
            #expect(result.status != 0 && !result.standardError.isEmpty, "\(bad): \(result.standardOutput)")
        }
    }

    @Test(.enabled(if: canRunAsNobody, "needs root, setpriv, and an mprof that the user nobody may run"))
    func anotherUsersProcessIsPermissionDenied() throws {
        let result = try HostileInputTests.mprofAsNobody(["explain", "1"], in: "/")
        #expect(result.status == 1 && result.standardError.contains("permission denied"), "\(result.standardError)")
    }

    /// Files on a tmpfs live in memory as /dev/shm's do: both are shared memory (swapped, never dropped as the page
    /// cache is), mapped shared or privately; a file on disk stays a mapped file.
    @Test(.enabled(if: getuid() == 0, "mounting a tmpfs needs root"))
    func filesInMemoryAreSharedMemoryWhereverTheyAreMounted() throws {
        let directory = try TemporaryDirectory()
        let mountPoint = "\(directory.path)/ram"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: false)
        let mount = try runCommand("mount", ["-t", "tmpfs", "-o", "size=128m", "tmpfs", mountPoint])
        try #require(mount.status == 0, "could not mount a tmpfs: \(mount.standardError)")
        defer { _ = try? runCommand("umount", ["-l", mountPoint]) }
        let program = try HeapProfilingTests.compile(fixture: "ram-files", in: directory)
        let child = try ChildProcess.spawn(
            program, arguments: ["\(mountPoint)/shared", "\(mountPoint)/private", "\(directory.path)/disk"],
            standardInput: .null, standardOutput: .pipe)
        defer {
            kill(child.pid, SIGKILL)
            child.closePipes()
            _ = try? child.wait()
        }
        try #require(Self.firstLine(of: child) == "ready", "the program did not start")
        let result = try runProduct("mprof", ["explain", String(child.pid), "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let report = try JSONDecoder().decode(Report.self, from: Data(result.standardOutput.utf8))
        func part(_ name: String) -> Int { report.parts.first { $0.category == name }?.resident ?? -1 }
        // 80 MiB of tmpfs pages, 40 of the disk file's.
        #expect(part("shared-memory") >= 79 * Self.mebibyte && part("shared-memory") <= 82 * Self.mebibyte, "\(report.parts)")
        #expect(part("mapped-files") >= 39 * Self.mebibyte && part("mapped-files") <= 42 * Self.mebibyte, "\(report.parts)")
    }

    /// Huge pages (MAP_HUGETLB) are in no resident set: explain shows them apart, as many as the program touched (the
    /// test reserves 4 pages of 2 MiB for the duration and gives them back).
    @Test(.enabled(if: getuid() == 0, "reserving huge pages needs root"))
    func hugePagesAreShownApart() throws {
        let setting = "/proc/sys/vm/nr_hugepages"
        let before = try String(contentsOfFile: setting, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try "4\n".write(toFile: setting, atomically: false, encoding: .utf8)
        defer { try? "\(before)\n".write(toFile: setting, atomically: false, encoding: .utf8) }
        let reserved = try String(contentsOfFile: setting, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try #require((Int(reserved) ?? 0) >= 2, "the kernel reserved \(reserved) huge pages of the 4 asked for")
        let directory = try TemporaryDirectory()
        let program = try HeapProfilingTests.compile(fixture: "huge", in: directory)
        let child = try ChildProcess.spawn(program, arguments: [], standardInput: .null, standardOutput: .pipe)
        defer {
            kill(child.pid, SIGKILL)
            child.closePipes()
            _ = try? child.wait()
        }
        try #require(Self.firstLine(of: child) == "ready", "the program could not map its huge pages")
        let result = try runProduct("mprof", ["explain", String(child.pid), "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        #expect(json["hugePages"] as? Int == 4 << 20, "\(json["hugePages"] ?? "none")")
        let text = try runProduct("mprof", ["explain", String(child.pid)])
        #expect(text.standardOutput.contains("Huge pages: 4.0 MiB more"), "\(text.standardOutput)")
    }

    /// A peak that comes and goes between two samples cannot be broken down: the breakdown taken is not called "near
    /// the peak", and says what share of the peak it saw.
    @Test func aBreakdownFarFromThePeakSaysSo() throws {
        let directory = try TemporaryDirectory()
        let program = try HeapProfilingTests.compile(fixture: "spike", in: directory)
        // One sample at the start, the next long after the program has ended: no sample can see the spike, however
        // slow the machine.
        let run = try runProduct("mprof", ["run", "--explain", "-T", "5", "-o", "\(directory.path)/spike.dat", program])
        #expect(run.status == 0, "\(run.standardError)")
        let line = try #require(run.standardError.split(separator: "\n").first { $0.hasPrefix("mprof: the memory at") }, "\(run.standardError)")
        #expect(!line.contains("near the peak") && line.contains("% of the peak of 20"), "\(line)")
    }

    /// `mprof peak --verdict` on programs whose story is known (Tests/Fixtures/verdict/verdict.c), recorded as a
    /// user would: a leak, memory the allocator keeps after frees, and a program that loads and holds.
    @Test func verdictsOnProgramsWithAKnownStory() throws {
        let directory = try TemporaryDirectory()
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../Fixtures/verdict/verdict.c").standardized.path
        let program = "\(directory.path)/verdict"
        let compile = try runCommand("cc", ["-O1", "-o", program, source])
        try #require(compile.status == 0, "\(compile.standardError)")
        func verdict(_ story: String, heap: Bool) throws -> (kind: String, explanation: String) {
            let words = story.split(separator: " ").map(String.init)
            let file = "\(directory.path)/\(words[0])\(heap ? "-heap" : "").dat"
            let run = try runProduct("mprof", ["run"] + (heap ? ["--heap"] : []) + ["-T", "0.05", "-o", file, program] + words)
            #expect(run.status == 0, "\(run.standardError)")
            let peak = try runProduct("mprof", ["peak", "--verdict", "--json", file])
            #expect(peak.status == 0, "\(peak.standardError)")
            let results = try #require(try JSONSerialization.jsonObject(with: Data(peak.standardOutput.utf8)) as? [[String: Any]])
            let judged = try #require(results.first?["verdict"] as? [String: Any], "\(peak.standardOutput)")
            // The trend in MemoryTrend's own names.
            let resident = judged["resident"] as? [String: Any] ?? [:]
            #expect(Set(resident.keys) == ["slope", "change", "duration", "samples", "pValue", "driftPValue", "isSignificant"], "\(resident.keys)")
            return (judged["kind"] as? String ?? "", judged["explanation"] as? String ?? "")
        }
        let leak = try verdict("leak", heap: true)
        #expect(leak.kind == "leak" && leak.explanation.contains("heap in use grows"), "\(leak)")
        #expect(try verdict("leak", heap: false).kind == "growth")
        let retained = try verdict("retain", heap: true)
        // 200 MiB allocated, 63 of 64 blocks freed: the heap falls to about 3 MiB, the resident set stays.
        #expect(retained.kind == "allocator-retention" && retained.explanation.contains("fell from 201.6 MiB"), "\(retained)")
        #expect(try verdict("steady", heap: true).kind == "steady")
        // A file mapped and read 5 MiB at a time: the resident set grows, and the FILE records say it is file pages.
        // A load over the first 40 % of the run, then held: not a leak.
        #expect(try verdict("warmup", heap: true).kind == "steady")
        #expect(try verdict("warmup", heap: false).kind == "steady")
        // Two runs appended to one file: the verdict is the last run's, with its own capture.
        _ = try verdict("churn", heap: true)
        #expect(try verdict("churn", heap: true).kind == "steady")
        let files = try verdict("files \(directory.path)/data", heap: false)
        #expect(files.kind == "file-growth" && files.explanation.contains("file-backed pages grow"), "\(files)")
        #expect(try verdict("steady", heap: false).kind == "steady")
        // A cache filled once and held: a level change of its own size, and the leak scan finds nothing unreachable.
        for heap in [true, false] {
            let cache = try verdict("cache", heap: heap)
            #expect(cache.kind == "steady" && cache.explanation.contains("level change"), "\(cache)")
        }
        // The heap grows to the end but every block is still referenced at exit: growth, not a leak.
        let keep = try verdict("keep", heap: true)
        #expect(keep.kind == "growth" && keep.explanation.contains("still referenced"), "\(keep)")
        // 60 MiB leaked after 1 GiB was filled: the fill is a warm-up, the leak after it is what counts, and the exit
        // scan's time (a second for 1 GiB) is left out of the recording it would otherwise flatten.
        let large = try verdict("large", heap: true)
        #expect(large.kind == "leak" && large.explanation.contains("unreachable at exit"), "\(large)")
        #expect(try verdict("large", heap: false).kind == "growth")
        // The plot says it in its title.
        let plot = try runProduct("mprof", ["plot", "--verdict", "\(directory.path)/retain-heap.dat", "-o", "\(directory.path)/retain.svg"])
        #expect(plot.status == 0, "\(plot.standardError)")
        let svg = try String(contentsOfFile: "\(directory.path)/retain.svg", encoding: .utf8)
        #expect(svg.contains("(verdict: allocator-retention)"))
    }
}
