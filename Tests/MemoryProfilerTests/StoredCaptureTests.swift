@testable import MemoryProfiler
import Testing

/// The stored form of a capture (version 2: allocation sites and allocation numbers in place of addresses), read
/// from records made by hand: each record does what the format says, and every reference to something that was
/// never recorded is an error naming the byte, never a crash or a silent wrong number.
struct StoredCaptureTests {
    static func number(_ value: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        CaptureRecordEncoding.appendNumber(value, to: &bytes)
        return bytes
    }

    static func record(_ tag: Unicode.Scalar, _ fields: UInt64...) -> [UInt8] {
        [UInt8(ascii: tag)] + fields.flatMap(number)
    }

    /// The magic and a version 2 begin record.
    static let header: [UInt8] = {
        var bytes = Array("MPROFHP1".utf8) + record("B", 2, 4242, 1_795_000_000_000_000_000, 4096)
        CaptureRecordEncoding.appendString("none", to: &bytes)
        CaptureRecordEncoding.appendString("/bin/true", to: &bytes)
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
        #expect(capture.summary.blocksAtEnd == 1 && capture.summary.bytesAtEnd == 100)
        #expect(capture.summary.peakBytes == 280)
        #expect(capture.summary.unreachableBlocks == 1 && capture.summary.unreachableBytes == 100)
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

    @Test func aRestoreWithoutAFreeAndAFreeOfABlockAlreadyFreedChangeNothing() throws {
        let site = Self.record("P", 16, 0, 0)
        let capture = try Self.read(
            site, Self.record("a", 1), Self.record("r"),  // nothing to undo
            Self.record("f", 1), Self.record("g", 1),  // the same block twice: the second is of no live block
            Self.record("X", 1, 2, 1))
        #expect(capture.summary.frees == 1 && capture.summary.freesOfUnknownBlocks == 1)
        #expect(capture.summary.blocksAtEnd == 0 && capture.summary.bytesAtEnd == 0)
    }
}
