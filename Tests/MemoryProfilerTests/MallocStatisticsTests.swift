import Foundation
import MemoryProfiler
import MemoryProfilerTestSupport
import Testing

/// The heap reading of the allocator a process really uses, on `memory-workload` under each allocator Debian has:
/// glibc's, jemalloc preloaded and linked, tcmalloc preloaded, and mimalloc (which mprof cannot read: a clear error).
/// The truth is what the workload allocates (50 MiB in blocks of 1,016 bytes, which every one of these allocators
/// keeps in 1,024: 0.8 % over); the witness is the allocator's own text report.
@Suite(.serialized)
struct MallocStatisticsTests {
    static let libraries = "/usr/lib/x86_64-linux-gnu"
    static let jemalloc = "\(libraries)/libjemalloc.so.2"
    static let tcmalloc = "\(libraries)/libtcmalloc.so.4"
    static let mimalloc = "\(libraries)/libmimalloc.so.2"
    static func installed(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }
    static let mebibyte = 1 << 20

    struct Statistics: Decodable {
        var allocator: String
        var library: String
        var inUse: Int
        var heldFree: Int
        var releasableAtTop: Int
        var retained: Int
    }

    static func statistics(_ workload: Workload) throws -> Statistics {
        let answer = try workload.send("malloc-stats")
        try #require(answer.hasPrefix("ok "), "\(answer)")
        return try JSONDecoder().decode(Statistics.self, from: Data(answer.dropFirst(3).utf8))
    }

    /// The reading follows a known allocation, agrees with the allocator's own report and with the `heap` reader,
    /// and sees freed memory the allocator keeps.
    static func check(_ workload: Workload, allocator: String, library: String, keepsFreedMemory: Int) throws {
        let before = try statistics(workload)
        #expect(before.allocator == allocator && before.library.contains(library), "\(before)")
        let allocated = try workload.send("small 50 1016")
        let blocks = try #require(Int(allocated.split(separator: " ").last ?? ""), "\(allocated)")
        let after = try statistics(workload)
        let asked = blocks * 1016
        let grew = after.inUse - before.inUse
        #expect(abs(Double(grew - asked)) <= 0.02 * Double(asked), "grew by \(grew) for \(asked) asked (\(allocator))")

        // The allocator's own report, read right after (the command itself allocates a little).
        let witness = try workload.send("allocator-witness")
        let reported = try #require(witness.hasPrefix("ok ") ? Int(witness.dropFirst(3)) : nil, "\(witness)")
        #expect(abs(Double(reported - after.inUse)) <= 0.02 * Double(after.inUse), "own report \(reported), read \(after.inUse)")

        // The heap reader (what memit and the line profiler's Heap column use) reads the same allocator.
        let readings = try workload.send("read")
        let heap = try #require(
            (try JSONSerialization.jsonObject(with: Data(readings.utf8)) as? [String: Any])?["heap"] as? Int, "\(readings)")
        #expect(abs(Double(heap - after.inUse)) <= 0.02 * Double(after.inUse), "heap reader \(heap), read \(after.inUse)")

        // Freed between blocks still in use: out of the heap in use, but held by the allocator.
        #expect(try workload.send("free-small 64") == "ok")
        let freed = try statistics(workload)
        let kept = (blocks + 63) / 64 * 1016
        #expect(abs(Double(freed.inUse - before.inUse - kept)) <= 0.02 * Double(asked), "\(freed) after freeing 63 of 64")
        #expect(freed.heldFree - before.heldFree >= keepsFreedMemory, "held free \(freed.heldFree), before \(before.heldFree)")
    }

    @Test func glibcsHeapIsReadWithMallinfo2() throws {
        let workload = try Workload()
        defer { _ = try? workload.finish() }
        try Self.check(workload, allocator: "glibc", library: "libc.so", keepsFreedMemory: 40 * Self.mebibyte)
        #expect(try Self.statistics(workload).releasableAtTop >= 0)
    }

    /// What malloc_trim would give back, measured in a forked copy, against what it does give back here (the
    /// kernel's resident set the witness).
    @Test func glibcsTrimmableMemoryIsWhatMallocTrimReleases() throws {
        let workload = try Workload()
        defer { _ = try? workload.finish() }
        #expect(try workload.send("small 50 1016").hasPrefix("ok"))
        #expect(try workload.send("free-small 64") == "ok")
        let answer = try workload.send("trimmable")
        let trimmable = try #require(answer.hasPrefix("ok ") ? Int(answer.dropFirst(3)) : nil, "\(answer)")
        // Each run of 63 free chunks (64,512 bytes) holds 14 or 15 whole pages: about 45 MiB of the 49 freed.
        #expect(trimmable >= 40 * Self.mebibyte && trimmable <= 50 * Self.mebibyte, "\(trimmable)")
        func rss() throws -> Int {
            let readings = try workload.send("read")
            return try #require((try JSONSerialization.jsonObject(with: Data(readings.utf8)) as? [String: Any])?["rss"] as? Int)
        }
        // Measuring left this process's heap as it was; trimming it for real releases what was measured.
        let before = try rss()
        #expect(try workload.send("trim") == "ok")
        let released = before - (try rss())
        #expect(abs(Double(released - trimmable)) <= 0.02 * Double(trimmable) + 256 * 1024, "released \(released), measured \(trimmable)")
        // Under another allocator: a clear error.
        if Self.installed(Self.jemalloc) {
            let other = try Workload(environment: ["LD_PRELOAD": Self.jemalloc])
            defer { _ = try? other.finish() }
            let refused = try other.send("trimmable")
            #expect(refused.hasPrefix("error unavailable") && refused.contains("libjemalloc"), "\(refused)")
        }
    }

    @Test(.enabled(if: installed(jemalloc), "libjemalloc2 is not installed (apt-get install libjemalloc-dev; .ci/run does)"))
    func jemallocPreloadedIsReadWithMallctl() throws {
        let workload = try Workload(environment: ["LD_PRELOAD": Self.jemalloc])
        defer { _ = try? workload.finish() }
        // jemalloc purges freed pages on a timer (10 s by default): right after the frees most are still resident.
        try Self.check(workload, allocator: "jemalloc", library: "libjemalloc.so.2", keepsFreedMemory: 20 * Self.mebibyte)
        #expect(try Self.statistics(workload).retained >= 0)
    }

    /// Linked, as Vapor's template links it: a DT_NEEDED entry ahead of libc (added to a copy with patchelf).
    @Test(.enabled(if: installed(jemalloc) && installed("/usr/bin/patchelf"), "libjemalloc2 or patchelf is not installed (.ci/run installs both)"))
    func jemallocLinkedIsReadWithMallctl() throws {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("jemalloc-linked-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = directory.appendingPathComponent("memory-workload").path
        // Copied and patched by processes of their own: no descriptor of ours open on the file when it runs.
        #expect(try runCommand("cp", [BuiltProducts.path("memory-workload"), copy]).status == 0)
        let patched = try runCommand("patchelf", ["--add-needed", "libjemalloc.so.2", copy])
        try #require(patched.status == 0, "\(patched.standardError)")
        let workload = try Workload(executable: copy)
        defer { _ = try? workload.finish() }
        try Self.check(workload, allocator: "jemalloc", library: "libjemalloc.so.2", keepsFreedMemory: 20 * Self.mebibyte)
    }

    @Test(.enabled(if: installed(tcmalloc), "libgoogle-perftools4 is not installed (apt-get install libgoogle-perftools4; .ci/run does)"))
    func tcmallocPreloadedIsReadWithMallocExtension() throws {
        let workload = try Workload(environment: ["LD_PRELOAD": Self.tcmalloc])
        defer { _ = try? workload.finish() }
        try Self.check(workload, allocator: "tcmalloc", library: "libtcmalloc.so.4", keepsFreedMemory: 40 * Self.mebibyte)
    }

    /// Under mprof's heap hook the reading is the allocator the hook forwards to, not the hook.
    @Test(.enabled(if: installed(jemalloc), "libjemalloc2 is not installed (.ci/run installs it)"))
    func underTheHeapHookTheAllocatorBehindItIsRead() throws {
        let hook = BuiltProducts.path("libmprof-heap-hook.so")
        try #require(FileManager.default.fileExists(atPath: hook), "\(hook) is missing: build with `swift build`")
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("hooked-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(at: directory) }
        // jemalloc after the hook: the hook forwards to it. Before the hook: jemalloc serves malloc itself.
        for (preload, allocator) in [(hook, "glibc"), ("\(hook):\(Self.jemalloc)", "jemalloc"), ("\(Self.jemalloc):\(hook)", "jemalloc")] {
            let workload = try Workload(environment: [
                "LD_PRELOAD": preload, "MPROF_HEAP_OUTPUT": directory.appendingPathComponent("\(allocator).heap").path,
            ])
            defer { _ = try? workload.finish() }
            let statistics = try Self.statistics(workload)
            #expect(statistics.allocator == allocator && !statistics.library.contains("mprof-heap-hook") && statistics.inUse > 0, "\(statistics)")
        }
    }

    /// mimalloc keeps no count of the bytes in use: the reading is an error that names it, and the heap reader is
    /// unavailable, never glibc's idle arenas.
    @Test(.enabled(if: installed(mimalloc), "libmimalloc2.0 is not installed (apt-get install libmimalloc2.0; .ci/run does)"))
    func mimallocIsNamedNotMisread() throws {
        let workload = try Workload(environment: ["LD_PRELOAD": Self.mimalloc])
        defer { _ = try? workload.finish() }
        let answer = try workload.send("malloc-stats")
        #expect(answer.hasPrefix("error unavailable") && answer.contains("mimalloc") && answer.contains("libmimalloc.so.2"), "\(answer)")
        let readings = try workload.send("read")
        #expect(readings.contains("\"heap\":-1"), "\(readings)")
        #expect(try workload.send("probe self heap") == "error unavailable")
    }
}
