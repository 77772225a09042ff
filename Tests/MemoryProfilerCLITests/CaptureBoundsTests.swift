import Foundation
import MemoryProfiler
import MemoryProfilerSystem
import MemoryProfilerTestSupport
import Testing

/// What a capture costs to read is bounded by what it holds, never by what its length or header claims: a sparse
/// file of any length, a compressed capture that claims more than memory allows.
@Suite struct CaptureBoundsTests {
    /// `value` as an unsigned LEB128 number, as captures hold numbers.
    static func number(_ value: UInt64) -> [UInt8] {
        var value = value, bytes: [UInt8] = []
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        return bytes + [UInt8(value)]
    }

    /// A compressed capture (see `CaptureCompression`) of `literals`, then a repeat of the `distance` bytes before
    /// for `length` bytes.
    static func compressed(literals: [UInt8], repeating distance: Int, length: Int) throws -> [UInt8] {
        let stream = number(UInt64(literals.count)) + literals + number(UInt64(length)) + number(UInt64(distance))
        let packed = try #require(stream.withUnsafeBufferPointer { Zlib.compress($0) })
        return Array("MPROFHZ2".utf8) + number(UInt64(literals.count + length)) + number(UInt64(stream.count)) + packed
    }

    /// A capture as the hook starts one: the header, then one allocation of 4096 bytes with no stack.
    static func smallRawCapture() -> [UInt8] {
        func string(_ text: String) -> [UInt8] { number(UInt64(text.utf8.count)) + Array(text.utf8) }
        var bytes = Array("MPROFHP1".utf8)
        bytes += [UInt8(ascii: "B")] + number(1) + number(4242) + number(1_795_000_000_000_000_000) + number(4096)
            + string("none") + string("/bin/true")
        bytes += [UInt8(ascii: "A")] + number(4096) + number(0) + number(0x5000 << 1)
        return bytes
    }

    /// A compressed capture of half a megabyte that describes 30 million allocations (one record repeated by one
    /// long match, found by an adversarial pass: it took 3.2 GB and minutes, or aborted under a 1 GiB address space)
    /// is refused with the reason, within the memory mprof may take. A file that starts like a capture but goes on
    /// as something else is refused at once, not after reading it whole.
    @Test func whatACaptureDescribesIsBoundedToo() throws {
        let directory = try TemporaryDirectory()
        // The magic and the begin record (of the stored form, version 2), without the allocation (7 bytes) that
        // ends the small capture; a site of 1 byte without a stack, and one allocation there, repeated.
        var header = Array(Self.smallRawCapture().dropLast(7))
        header[9] = 2
        let literals = header + [UInt8(ascii: "P"), 1, 0, 0] + [UInt8(ascii: "a"), 1]
        let repeats = 30_000_000
        let bytes = try Self.compressed(literals: literals, repeating: 2, length: (repeats - 1) * 2)
        let bomb = "\(directory.path)/bomb.heap"
        try Data(bytes).write(to: URL(fileURLWithPath: bomb))
        #expect(bytes.count < 600_000)
        let limited = try runCommand("prlimit", ["--as=\(1 << 30)", BuiltProducts.path("mprof"), "heap", bomb])
        #expect(limited.status == 1, "status \(limited.status): \(limited.standardError.suffix(300))")
        #expect(limited.standardError.contains("replaying it would take more than"), "\(limited.standardError.suffix(300))")

        let garbage = "\(directory.path)/garbage.heap"
        try Data((Array("MPROFHP1".utf8) + Array("\nMPROFHP1".utf8) + [UInt8](repeating: 0x41, count: 8 << 20))).write(to: URL(fileURLWithPath: garbage))
        let refused = try runProduct("mprof", ["heap", garbage])
        #expect(refused.status == 1 && refused.standardError.contains("is not a readable heap capture: it does not start with"), "\(refused.standardError)")
    }

    /// Restores ('R': a failed realloc kept its block) that follow no free of theirs undo nothing: the count of frees
    /// of unknown blocks never goes below zero.
    @Test func restoresWithoutTheirFreeUndoNothing() throws {
        let directory = try TemporaryDirectory()
        let heap = "\(directory.path)/restores.heap"
        // After the allocation at 0x5000: three restores of blocks never freed, a free of an unknown block at
        // 0x9000 and its restore (that free did not happen), and a free of another unknown block at 0xA000.
        func delta(_ value: Int64) -> [UInt8] { Self.number(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }
        var bytes = Self.smallRawCapture()
        for (tag, change) in [("R", 0x10), ("R", 0x10), ("R", -0x20), ("F", 0x4000), ("R", 0), ("F", 0x1000)] as [(Character, Int64)] {
            bytes += [UInt8(ascii: tag.unicodeScalars.first ?? "R")] + delta(change)
        }
        try Data(bytes).write(to: URL(fileURLWithPath: heap))
        let report = try runProduct("mprof", ["heap", heap, "--json", "--view", "summary"])
        #expect(report.status == 0, "\(report.standardError)")
        #expect(report.standardOutput.contains("\"freesOfUnknownBlocks\" : 1"), "\(report.standardOutput.prefix(900))")
    }

    /// Address 0 is where the reader's table marks an empty slot: a free or a restore of it (crafted, found by
    /// fuzzing) removed or planted a block that was never there, and a later free indexed past the allocations.
    @Test func freesAndRestoresOfAddressZeroChangeNothing() throws {
        let directory = try TemporaryDirectory()
        let heap = "\(directory.path)/zero.heap"
        // After the allocation at 0x5000: a free of 0, a restore of 0, frees of 0 again, then the real free.
        var bytes = Self.smallRawCapture()
        bytes += [UInt8(ascii: "F"), 0xFF, 0xBF, 0x02]  // zigzag(-0x5000): to address 0
        bytes += [UInt8(ascii: "R"), 0, UInt8(ascii: "F"), 0, UInt8(ascii: "F"), 0]
        bytes += [UInt8(ascii: "F"), 0x80, 0xC0, 0x02]  // zigzag(+0x5000): back to the block
        try Data(bytes).write(to: URL(fileURLWithPath: heap))
        let report = try runProduct("mprof", ["heap", heap, "--json", "--view", "summary"])
        #expect(report.status == 0, "\(report.standardError)")
        #expect(report.standardOutput.contains("\"frees\" : 1"), "\(report.standardOutput.prefix(900))")
        #expect(report.standardOutput.contains("\"blocksNotFreed\" : 0"), "\(report.standardOutput.prefix(900))")
    }

    /// A 64 GiB sparse capture, alone and beside a good `.dat`: read to its last record in a chunk, not allocated.
    @Test func aSparseCaptureOf64GiBIsReadToItsLastRecord() throws {
        let directory = try TemporaryDirectory()
        let heap = "\(directory.path)/run.heap"
        try Data(Self.smallRawCapture()).write(to: URL(fileURLWithPath: heap))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: heap))
        try handle.truncate(atOffset: 64 << 30)
        try handle.close()

        let report = try runProduct("mprof", ["heap", heap, "--json", "--view", "summary"])
        #expect(report.status == 0, "\(report.standardError)")
        #expect(report.standardOutput.contains("\"allocations\" : 1"), "\(report.standardOutput.prefix(800))")
        #expect(report.standardOutput.contains("\"peakBytes\" : 4096"), "\(report.standardOutput.prefix(800))")

        try """
            CMDLINE true
            MEM 1.0 1795000000.0
            MEM 2.0 1795000000.5
            MEM 3.0 1795000001.0

            """.write(toFile: "\(directory.path)/run.dat", atomically: true, encoding: .utf8)
        let plot = try runProduct("mprof", ["plot", "\(directory.path)/run.dat", "-o", "\(directory.path)/run.svg"])
        #expect(plot.status == 0, "\(plot.standardError)")
        let verdict = try runProduct("mprof", ["peak", "--verdict", "\(directory.path)/run.dat"])
        #expect(verdict.status == 0, "\(verdict.standardError)")
        #expect(verdict.standardOutput.contains("3.000 MiB"), "\(verdict.standardOutput)")
    }

    /// Records that add to what the replay keeps without an allocation — time records (a point of the heap's
    /// timeline each), notes — are held to the same budget: 250 MB of repeated time records from a 60-byte file
    /// once took 4.6 GB, or aborted under a tight address space.
    @Test func timeRecordsAreCountedAgainstTheReplaysMemory() throws {
        let directory = try TemporaryDirectory()
        var header = Array(Self.smallRawCapture().dropLast(7))
        header[9] = 2
        let literals = header + [UInt8(ascii: "T"), 0]
        let bytes = try Self.compressed(literals: literals, repeating: 2, length: 250_000_000)
        #expect(bytes.count < 1000)
        let heap = "\(directory.path)/times.heap"
        try Data(bytes).write(to: URL(fileURLWithPath: heap))
        let limited = try runCommand("prlimit", ["--as=\(1 << 30)", BuiltProducts.path("mprof"), "heap", heap])
        #expect(limited.status == 1, "status \(limited.status): \(limited.standardError.suffix(300))")
        #expect(limited.standardError.contains("replaying it would take more than"), "\(limited.standardError.suffix(300))")
    }

    /// A compressed capture of a few hundred bytes that claims, and would make, 3 GiB: refused with the reason where memory
    /// (here `RLIMIT_AS`) allows less, never an abort.
    @Test func aCompressedCaptureThatWouldOutgrowMemoryIsRefused() throws {
        let directory = try TemporaryDirectory()
        let heap = "\(directory.path)/bomb.heap"
        // A module record, then a repeat of it to 3 GiB.
        let module = [UInt8(ascii: "M"), 1, 0, 0] + Self.number(60) + [UInt8](repeating: 0x41, count: 60)
        let bytes = try Self.compressed(literals: module, repeating: module.count, length: (3 << 30) - module.count)
        #expect(bytes.count < 1000)
        try Data(bytes).write(to: URL(fileURLWithPath: heap))

        let limited = try runCommand("prlimit", ["--as=\(2 << 30)", BuiltProducts.path("mprof"), "heap", heap])
        #expect(limited.status == 1, "\(limited.standardError)")
        // A quarter of what the limit leaves: 512 MiB less a quarter of what mprof has mapped already.
        let budget = limited.standardError.firstMatch(of: /more than the (\d+) MiB mprof may take/).flatMap { Int($0.1) }
        #expect(budget.map { (400...512).contains($0) } == true, "\(limited.standardError)")
    }

    /// `mprof run --heap` under an address-space limit (`prlimit --as`, which the program shares), on a program that
    /// keeps 3 million blocks: mprof's own replay of the capture needs more than a tight limit leaves. It never
    /// aborts (it did: a table's growth failed inside the follower): the capture gets its names, or mprof says it
    /// ran out of memory, and the capture stays readable with every allocation where memory allows.
    @Test func aHeapRunUnderATightAddressSpaceLimitNeverAborts() throws {
        let directory = try TemporaryDirectory()
        let program = try HeapProfilingTests.compile(fixture: "keeps-blocks-2", named: "keeps-blocks", in: directory)
        var outcomes: [String] = []
        for kibibytes in [300_000, 400_000, 800_000] {
            let dat = "\(directory.path)/k\(kibibytes).dat", heap = "\(directory.path)/k\(kibibytes).heap"
            let run = try runCommand(
                "prlimit", ["--as=\(kibibytes << 10)", BuiltProducts.path("mprof"), "run", "--heap", "-o", dat, program])
            let errors = run.standardError
            #expect(run.status == 0, "--as \(kibibytes) KiB: status \(run.status): \(errors.suffix(600))")
            #expect(run.standardOutput.contains("kept"), "--as \(kibibytes) KiB: the program failed: \(errors.suffix(300))")
            #expect(!errors.contains("Fatal error"), "--as \(kibibytes) KiB: \(errors.suffix(600))")
            let named = !errors.contains("names were not stored")
            if !named {
                let reasons = ["ran out of memory", "would take more than", "no memory to read", "mprof may take to read it", "out of memory"]
                #expect(reasons.contains { errors.contains($0) }, "\(errors)")
            }
            outcomes.append("\(kibibytes) KiB: \(named ? "named" : "not named")")
            let capture = try HeapCapture(path: heap)
            #expect(capture.summary.allocations >= 3_000_001, "--as \(kibibytes) KiB: \(capture.summary.allocations)")
            #expect(capture.summary.bytesNotFreed >= 3_000_000 * 16, "--as \(kibibytes) KiB: \(capture.summary.bytesNotFreed)")
        }
        // With room enough, everything as without a limit.
        #expect(outcomes.last == "800000 KiB: named", "\(outcomes)")
    }
}
