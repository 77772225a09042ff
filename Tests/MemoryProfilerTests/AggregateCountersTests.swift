import Foundation
@testable import MemoryProfiler
import MemoryProfilerTestSupport
import Testing

/// An aggregate capture's counters (format version 3), made by hand: what a killed program can leave, and what a
/// hostile file can say, read as the reader must — without a trap, without a number the file cannot support.
struct AggregateCountersTests {
    /// A capture: the begin record (version 3), one stack node, the totals and `sites` (12 words each), and an end
    /// record when `finished`.
    static func capture(
        totals: [Int: UInt64], sites: [[UInt64]], finished: Bool, levels: [(milliseconds: UInt64, bytes: UInt64)] = []
    ) -> [UInt8] {
        var bytes = Array("MPROFHP1".utf8)
        func number(_ value: UInt64) { LEB128.append(value, to: &bytes) }
        func words(_ values: [UInt64]) { for value in values { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } } }
        bytes.append(UInt8(ascii: "B"))
        for value: UInt64 in [3, 1, 0, 4096] { number(value) }
        number(0)
        number(0)
        bytes.append(UInt8(ascii: "S"))
        number(0)
        number(0x1000)
        var total = [UInt64](repeating: 0, count: 146)
        for (index, value) in totals { total[index] = value }
        total[10] = UInt64(sites.count)
        bytes.append(UInt8(ascii: "Q"))
        for value: UInt64 in [1, 0, UInt64(total.count * 8), 0] { number(value) }
        words(total)
        if !sites.isEmpty {
            bytes.append(UInt8(ascii: "Q"))
            for value: UInt64 in [2, 0, UInt64(sites.count * 96), 0] { number(value) }
            for site in sites { words(site) }
        }
        for level in levels {
            bytes.append(UInt8(ascii: "T"))
            number(level.milliseconds)
            bytes.append(UInt8(ascii: "L"))
            number(level.bytes)
        }
        if finished {
            bytes.append(UInt8(ascii: "X"))
            for value: UInt64 in [0, 0, 5] { number(value) }
        }
        return bytes
    }

    /// A site of stack node 1: allocations, bytes, live, live bytes; its epoch and peak counts 0.
    static func site(_ allocations: UInt64, _ bytes: UInt64, live: UInt64, liveBytes: UInt64) -> [UInt64] {
        [1 << 63 | 1 << 32, allocations, bytes, live, liveBytes, 0, 0, 0, 0, 0, 0, 0]
    }

    /// Killed between raising the bytes live and the peak (the hook's few stores apart): the capture reads, its peak
    /// the bytes live. In a capture that ended normally that is damage.
    @Test func aPeakBelowTheBytesLiveIsTheBytesLiveOnlyInACaptureCutShort() throws {
        let totals: [Int: UInt64] = [0: 100, 1: 50, 4: 1, 6: 100, 9: 1]
        let sites = [Self.site(1, 100, live: 1, liveBytes: 100)]
        let killed = try HeapCapture(bytes: Self.capture(totals: totals, sites: sites, finished: false))
        #expect(killed.summary.peakBytes == 100 && killed.summary.bytesNotFreed == 100 && !killed.summary.finishedNormally)
        #expect(throws: MemoryError.self) { try HeapCapture(bytes: Self.capture(totals: totals, sites: sites, finished: true)) }
    }

    /// Sites whose counts add up past what a counter holds (each within range) are refused: every report sums them.
    @Test func sitesAddingUpPastTheLargestCountAreRefused() throws {
        let huge: UInt64 = 1 << 62
        let sites = [Self.site(1, huge, live: 0, liveBytes: 0), Self.site(1, huge, live: 0, liveBytes: 0)]
        #expect(throws: MemoryError.self) {
            try HeapCapture(bytes: Self.capture(totals: [4: 2, 6: huge], sites: sites, finished: false))
        }
    }

    /// In a capture that ended normally, the sites' counts are the totals'; a file where they are not is refused.
    @Test func aFinishedCapturesSitesAddUpToItsTotals() throws {
        let sites = [Self.site(3, 300, live: 1, liveBytes: 100), Self.site(2, 20, live: 0, liveBytes: 0)]
        let agreeing: [Int: UInt64] = [0: 100, 1: 100, 4: 5, 6: 320, 9: 1]
        let capture = try HeapCapture(bytes: Self.capture(totals: agreeing, sites: sites, finished: true))
        #expect(capture.summary.allocations == 5 && capture.summary.bytesAllocated == 320 && capture.isAggregate)
        var inflated = agreeing
        inflated[6] = 1 << 40
        #expect(throws: MemoryError.self) { try HeapCapture(bytes: Self.capture(totals: inflated, sites: sites, finished: true)) }
    }
    /// The heap over time is the levels and the peak: never a point at 0 the capture does not say (before its first
    /// level the reader had none to give, and drew 0 after a peak at the very start).
    @Test func theTimelineIsTheLevelsAndThePeak() throws {
        let totals: [Int: UInt64] = [0: 40, 1: 100, 2: 2, 4: 1, 6: 100, 9: 1]
        let capture = try HeapCapture(bytes: Self.capture(
            totals: totals, sites: [Self.site(1, 100, live: 1, liveBytes: 100)], finished: false,
            levels: [(12, 100), (30, 40)]))
        #expect(capture.heapTimeline.map(\.bytes) == [100, 100, 40, 40], "\(capture.heapTimeline)")
        #expect(capture.heapTimeline.map(\.time) == [0.002, 0.012, 0.030, 0.030], "\(capture.heapTimeline)")
    }
}
