@testable import MemoryProfiler
import MemoryProfilerSystem
import Testing

/// The stored form of a capture (version 2: allocation sites and allocation numbers in place of addresses), read
/// from records made by hand: each record does what the format says, and every reference to something that was
/// never recorded is an error naming the byte, never a crash or a silent wrong number.
struct StoredCaptureTests {
    static func number(_ value: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        LEB128.append(value, to: &bytes)
        return bytes
    }

    static func record(_ tag: Unicode.Scalar, _ fields: UInt64...) -> [UInt8] {
        [UInt8(ascii: tag)] + fields.flatMap(number)
    }

    /// The magic and a version 2 begin record.
    static let header: [UInt8] = {
        var bytes = Array("MPROFHP1".utf8) + record("B", 2, 4242, 1_795_000_000_000_000_000, 4096)
        LEB128.appendString("none", to: &bytes)
        LEB128.appendString("/bin/true", to: &bytes)
        return bytes
    }()

    static func read(_ records: [UInt8]...) throws -> HeapCapture {
        try HeapCapture(bytes: header + records.flatMap { $0 })
    }

    @Test func eachRecordDoesWhatTheFormatSays() throws {
        let capture = try Self.read(
            Self.record("P", 100, 0, 0), Self.record("P", 40, 0, 0),
            Self.record("H", 1), Self.record("a", 1), Self.record("a", 2), Self.record("a", 1),  // 1, 2, 3
            Self.record("H", 2), Self.record("a", 2),  // 4, thread 2's first
            Self.record("f", 1),  // thread 2 frees its own latest: 4 (a temporary)
            Self.record("H", 1), Self.record("f", 2),  // thread 1 frees its second-latest own: 2
            Self.record("g", 4),  // 4 allocations back of all 4: the first
            Self.record("r"),  // ...which a failed realloc kept
            Self.record("g", 0),  // a block the capture never saw
            Self.record("k", 2),  // the third was allocated over without a free
            Self.record("U", 1, 1),  // allocation 1 is unreachable
            Self.record("X", 4, 3, 10))
        #expect(capture.summary.allocations == 4)
        #expect(capture.summary.frees == 2)
        #expect(capture.summary.freesOfUnknownBlocks == 1)
        #expect(capture.summary.temporaries == 1)
        #expect(capture.summary.blocksNotFreed == 1 && capture.summary.bytesNotFreed == 100)
        #expect(capture.summary.peakBytes == 280)
        #expect(capture.summary.blocksLeaked == 1 && capture.summary.bytesLeaked == 100)
        #expect(capture.summary.finishedNormally)
    }

    @Test func referencesToWhatWasNeverRecordedAreErrors() throws {
        let site = Self.record("P", 16, 0, 0)
        let cases: [(String, [UInt8])] = [
            ("an allocation at a site never recorded", Self.record("a", 1)),
            ("site 0", site + Self.record("a", 0)),
            ("a site with a stack never recorded", Self.record("P", 16, 5, 0)),
            ("a site with a type never recorded", Self.record("P", 16, 0, 3)),
            ("a site larger than 2^48", Self.record("P", 1 << 50, 0, 0)),
            ("a thread's free before it allocated", site + Self.record("a", 1) + Self.record("H", 1) + Self.record("f", 1)),
            ("an own free further back than the thread allocated", site + Self.record("a", 1) + Self.record("f", 2)),
            ("an own free of 0", site + Self.record("a", 1) + Self.record("f", 0)),
            ("a free further back than all allocations", site + Self.record("a", 1) + Self.record("g", 2)),
            ("a replaced block further back than all allocations", site + Self.record("k", 1)),
            ("an address record in the stored form", Self.record("A", 16, 0, 32)),
            ("a free after the reachability records", site + Self.record("a", 1) + Self.record("U", 0) + Self.record("g", 1)),
        ]
        for (name, records) in cases {
            #expect(throws: MemoryError.self, "\(name)") { try Self.read(records) }
        }
        // The hook's form has no stored records.
        var hooks = Self.header
        hooks[9] = 1
        #expect(throws: MemoryError.self) { try HeapCapture(bytes: hooks + Self.record("a", 1)) }
    }

    /// A compressed capture (the first pass's stream `literals` then a repeat of the last `unit` bytes to `total`).
    static func compressed(_ literals: [UInt8], repeatingLast unit: Int, to total: Int) throws -> [UInt8] {
        var stream = number(UInt64(literals.count)) + literals
        stream += number(UInt64(total - literals.count)) + number(UInt64(unit))
        let packed = try #require(stream.withUnsafeBufferPointer { Zlib.compress($0) })
        return Array("MPROFHZ2".utf8) + number(UInt64(total)) + number(UInt64(stream.count)) + packed
    }

    /// Found by an adversarial pass: a compressed capture inside a compressed capture (whose claimed length, 2^40,
    /// escaped the limit and aborted mprof), a module recorded a million times (each compared with all before it),
    /// and more distinct modules than any program loads.
    @Test func whatRepeatsCannotCostWithoutBound() throws {
        let inner = try Self.compressed([UInt8(ascii: "M")] + Self.number(0), repeatingLast: 1, to: 1 << 40)
        let nested = try Self.compressed(inner, repeatingLast: 1, to: inner.count + 64)
        #expect(throws: MemoryError.self) { try HeapCapture(bytes: nested) }

        let module = Self.record("M", 0x1000, 0x1000, 0x2000) + [4] + Array("/lib".utf8)
        let again = try HeapCapture(bytes: try Self.compressed(Self.header + module, repeatingLast: module.count, to: Self.header.count + module.count * 1_000_000))
        #expect(again.modules.count == 1)

        var distinct: [UInt8] = []
        for index in 0..<17_000 { distinct += Self.record("M", 0, UInt64(index) << 20, UInt64(index) << 20 + 4096) + [0] }
        #expect(throws: MemoryError.self) { try Self.read(distinct) }
    }

    @Test func aRestoreWithoutAFreeAndAFreeOfABlockAlreadyFreedChangeNothing() throws {
        let site = Self.record("P", 16, 0, 0)
        let capture = try Self.read(
            site, Self.record("a", 1), Self.record("r"),  // nothing to undo
            Self.record("f", 1), Self.record("g", 1),  // the same block twice: the second is of no live block
            Self.record("X", 1, 2, 1))
        #expect(capture.summary.frees == 1 && capture.summary.freesOfUnknownBlocks == 1)
        #expect(capture.summary.blocksNotFreed == 0 && capture.summary.bytesNotFreed == 0)
    }
}
