@testable import MemoryProfiler
import Testing

/// The statistics under the verdicts: least squares and Student's t, checked against values from t tables.
struct MemoryVerdictTests {
    @Test func studentsTMatchesTheTables() {
        // Two-sided p for (t, degrees of freedom), from standard tables.
        let table: [(t: Double, degrees: Double, p: Double)] = [
            (2.228, 10, 0.05), (3.169, 10, 0.01), (4.587, 10, 0.001), (1.96, 1e6, 0.05), (2.042, 30, 0.05),
            (12.706, 1, 0.05), (0, 5, 1),
        ]
        for row in table {
            let p = MemoryTrend.twoSidedPValue(t: row.t, degrees: row.degrees)
            #expect(abs(p - row.p) <= row.p * 0.01 + 1e-9, "t \(row.t), df \(row.degrees): \(p), table \(row.p)")
        }
    }

    @Test func aLineIsFoundAndNoiseIsNotASlope() throws {
        // 2 MiB a second, exactly.
        let line: [(time: Double, bytes: Double)] = (0..<50).map { index in
            let time = Double(index) * 0.1
            return (time: time, bytes: 100e6 + 2_097_152 * time)
        }
        let trend = try #require(MemoryTrend(line))
        #expect(abs(trend.slope - 2_097_152) < 1e-3 && trend.pValue == 0 && trend.isSignificant())
        // A flat series with alternating noise of ±1 MiB: no slope.
        let flat: [(time: Double, bytes: Double)] = (0..<50).map { index in
            let noise: Double = index % 2 == 0 ? 1_048_576 : -1_048_576
            return (time: Double(index) * 0.1, bytes: 100e6 + noise)
        }
        let noise = try #require(MemoryTrend(flat))
        #expect(!noise.isSignificant() && !noise.isSignificant(upward: false), "\(noise)")
        #expect(MemoryTrend([(0, 1), (1, 2)]) == nil && MemoryTrend([(1, 1), (1, 2), (1, 3)]) == nil)
    }

    @Test func verdictsOnSeriesWithAKnownStory() {
        let times: [Double] = (0..<40).map { Double($0) * 0.05 }
        // Heap and RSS grow together: a leak.
        let growing: [(time: Double, bytes: Double)] = times.map { time in (time: time, bytes: 10e6 + 20e6 * time) }
        #expect(MemoryVerdict(resident: growing, heap: growing).kind == .leak)
        #expect(MemoryVerdict(resident: growing).kind == .growth)
        // RSS grows, the heap does not: retention (or memory not from malloc).
        let flatHeap: [(time: Double, bytes: Double)] = times.map { time in (time: time, bytes: 5e6) }
        #expect(MemoryVerdict(resident: growing, heap: flatHeap).kind == .allocatorRetention)
        // A load, then a plateau: steady.
        let plateau: [(time: Double, bytes: Double)] = times.map { time in (time: time, bytes: time < 0.2 ? 1e6 : 50e6) }
        #expect(MemoryVerdict(resident: plateau, heap: plateau).kind == .steady)
        // File pages make the growth.
        let files: [(time: Double, bytes: Double)] = growing.map { point in (time: point.time, bytes: point.bytes - 10e6) }
        #expect(MemoryVerdict(resident: growing, file: files).kind == .fileGrowth)
        #expect(MemoryVerdict(resident: [(0, 1)]).kind == .unknown)
        #expect(MemoryVerdict(resident: [(1, 1), (1, 2), (1, 3)]).kind == .unknown)
        // A load over the first 40 % of the run, then flat: not a leak, not growth.
        let slowLoad: [(time: Double, bytes: Double)] = times.map { time in (time: time, bytes: 1e6 + 60e6 * min(time / 0.8, 1)) }
        #expect(MemoryVerdict(resident: slowLoad, heap: slowLoad).kind == .steady)
        #expect(MemoryVerdict(resident: slowLoad).kind == .steady)
        // FILE records that match no sample, or exceed it, are left out.
        let stray: [(time: Double, bytes: Double)] = growing.map { point in (time: point.time + 5000, bytes: point.bytes) }
        #expect(MemoryVerdict(resident: growing, file: stray).kind == .growth)
        let larger: [(time: Double, bytes: Double)] = growing.map { point in (time: point.time, bytes: point.bytes * 2) }
        #expect(MemoryVerdict(resident: growing, file: larger).kind == .growth)
    }
}
