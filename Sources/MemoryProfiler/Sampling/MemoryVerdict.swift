#if canImport(Glibc)
import Glibc
#endif
internal import MemoryProfilerSystem

/// A straight line fitted to memory over time by least squares, and whether its slope is more than noise.
public struct MemoryTrend: Sendable, Hashable {
    /// Bytes per second.
    public var slope: Double
    /// Bytes at time 0 of the series.
    public var intercept: Double
    public var samples: Int
    /// Seconds from the first sample to the last.
    public var duration: Double
    /// The mean of the values, in bytes.
    public var mean: Double
    /// The slope's t statistic (slope over its standard error), and the two-sided probability of a slope at least
    /// this steep if memory did not grow or shrink at all (Student's t with samples − 2 degrees of freedom).
    public var tStatistic: Double
    public var pValue: Double

    /// The change the line makes over the series, in bytes.
    public var change: Double { slope * duration }

    /// Whether memory really grows (or, with `upward` false, shrinks): p < 0.001, and a change over the series of
    /// at least 1 MiB and 5 % of the mean. Samples of memory are not independent (each is close to the one before),
    /// which makes a t test too ready to see a slope; the size of the change is the guard against that.
    public func isSignificant(upward: Bool = true) -> Bool {
        let change = self.change
        guard upward ? change > 0 : change < 0 else { return false }
        return pValue < 0.001 && abs(change) >= Self.smallestChange(mean: mean)
    }

    /// The smallest change over a series that counts: 1 MiB, and 5 % of the mean.
    static func smallestChange(mean: Double) -> Double { max(1_048_576, 0.05 * abs(mean)) }

    /// The least-squares line through `points` (seconds, bytes); nil for fewer than 3 points or no spread in time.
    public init?(_ points: [(time: Double, bytes: Double)]) {
        let finite = points.filter { $0.time.isFinite && $0.bytes.isFinite }
        let count = Double(finite.count)
        guard finite.count >= 3 else { return nil }
        let meanTime = finite.reduce(0) { $0 + $1.time } / count
        let meanValue = finite.reduce(0) { $0 + $1.bytes } / count
        var sxx = 0.0, sxy = 0.0
        for point in finite {
            sxx += (point.time - meanTime) * (point.time - meanTime)
            sxy += (point.time - meanTime) * (point.bytes - meanValue)
        }
        guard sxx > 0 else { return nil }
        slope = sxy / sxx
        intercept = meanValue - slope * meanTime
        var residuals = 0.0
        for point in finite {
            let residual = point.bytes - (intercept + slope * point.time)
            residuals += residual * residual
        }
        let degrees = count - 2
        let standardError = degrees > 0 ? (residuals / degrees / sxx).squareRoot() : .infinity
        if standardError == 0 {
            tStatistic = slope == 0 ? 0 : .infinity
            pValue = slope == 0 ? 1 : 0
        } else {
            tStatistic = slope / standardError
            pValue = Self.twoSidedPValue(t: tStatistic, degrees: degrees)
        }
        samples = finite.count
        duration = (finite.map(\.time).max() ?? 0) - (finite.map(\.time).min() ?? 0)
        mean = meanValue
    }

    /// P(|T| ≥ |t|) for Student's t with `degrees` degrees of freedom: I_x(ν/2, 1/2) with x = ν / (ν + t²).
    static func twoSidedPValue(t: Double, degrees: Double) -> Double {
        guard t.isFinite else { return 0 }
        return regularizedIncompleteBeta(degrees / (degrees + t * t), a: degrees / 2, b: 0.5)
    }

    /// The regularized incomplete beta function I_x(a, b), from its continued fraction (modified Lentz), using the
    /// symmetry I_x(a, b) = 1 − I_{1−x}(b, a) where the fraction converges slowly.
    static func regularizedIncompleteBeta(_ x: Double, a: Double, b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logFront = lgammaValue(a + b) - lgammaValue(a) - lgammaValue(b) + a * log(x) + b * log(1 - x)
        if x > (a + 1) / (a + b + 2) {
            return 1 - regularizedIncompleteBeta(1 - x, a: b, b: a)
        }
        let tiny = 1e-300
        var c = 1.0, d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var fraction = d
        for m in 1...300 {
            let m = Double(m)
            // The even step, then the odd one.
            var numerator = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            d = 1 + numerator * d
            if abs(d) < tiny { d = tiny }
            c = 1 + numerator / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            fraction *= d * c
            numerator = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1 + numerator * d
            if abs(d) < tiny { d = tiny }
            c = 1 + numerator / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let step = d * c
            fraction *= step
            if abs(step - 1) < 1e-12 { break }
        }
        return exp(logFront) * fraction / a
    }

    private static func lgammaValue(_ value: Double) -> Double {
        var sign: Int32 = 0
        return lgamma_r(value, &sign)
    }
}

/// What a recording says about where memory went: a leak, memory the allocator keeps, mapped files growing, or
/// nothing worth a word; with the trends behind it.
public struct MemoryVerdict: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, Codable {
        /// The heap in use grows: memory is allocated and not freed.
        case leak
        /// The heap in use does not grow, but the resident set grows or stays high after the heap shrank: the
        /// allocator keeps freed memory.
        case allocatorRetention = "allocator-retention"
        /// File-backed pages (mapped files) make the resident set grow.
        case fileGrowth = "file-growth"
        /// The resident set grows and nothing recorded says why (record with `--heap` to tell a leak from the
        /// allocator).
        case growth
        /// Nothing grows.
        case steady
        /// Too few samples, or samples spanning no time: nothing can be said.
        case unknown
    }

    public var kind: Kind
    /// The reason, with its numbers, in a sentence.
    public var explanation: String
    public var resident: MemoryTrend?
    public var heap: MemoryTrend?
    public var file: MemoryTrend?

    /// Judges a recording from its resident set over time and, where recorded, the heap in use (a heap capture's
    /// timeline) and the file-backed resident pages, each as (seconds, bytes) points.
    public init(
        resident: [(time: Double, bytes: Double)], heap: [(time: Double, bytes: Double)]? = nil,
        file: [(time: Double, bytes: Double)]? = nil
    ) {
        // Trends after the warm-up: a program that loads and then holds is steady. The first fifth of the recording
        // is left out of the fits (the peaks below still see all of it), and growth must go on in the last half too:
        // a load that takes longer than a fifth of the run is not a leak.
        let times = resident.map(\.time)
        let first = times.min() ?? 0, last = times.max() ?? 0
        let cut = first + 0.2 * (last - first), half = first + 0.5 * (last - first)
        func settled(_ points: [(time: Double, bytes: Double)]) -> [(time: Double, bytes: Double)] {
            let later = points.filter { $0.time >= cut }
            return later.count >= 3 ? later : points
        }
        /// Significant growth after the warm-up that still goes on in the last half of the recording.
        func grows(_ trend: MemoryTrend?, _ points: [(time: Double, bytes: Double)]) -> Bool {
            guard let trend, trend.isSignificant() else { return false }
            guard let tail = MemoryTrend(points.filter { $0.time >= half }) else { return true }
            return tail.slope > 0 && tail.pValue < 0.01
        }
        let residentTrend = MemoryTrend(settled(resident))
        // The heap on the resident set's clock: its value at each sample (the timeline is a step function).
        let heapPoints = heap.map { Self.resampled($0, at: times) }
        let heapTrend = heapPoints.flatMap { MemoryTrend(settled($0)) }
        // File pages only at the resident set's own samples, and never above them (hostile or mismatched records
        // are left out).
        var residentAt: [Double: Double] = [:]
        for point in resident { residentAt[point.time] = point.bytes }
        let filePoints = file.map { points in points.filter { point in residentAt[point.time].map { point.bytes >= 0 && point.bytes <= $0 } ?? false } }
        let fileTrend = filePoints.flatMap { MemoryTrend(settled($0)) }
        self.resident = residentTrend
        self.heap = heapTrend
        self.file = fileTrend
        func mebibytes(_ bytes: Double) -> String { DecimalFormat.fixed(bytes / 1_048_576, decimals: 1) + " MiB" }
        func signed(_ bytes: Double) -> String { (bytes >= 0 ? "+" : "") + mebibytes(bytes) }
        func rate(_ trend: MemoryTrend) -> String {
            signed(trend.change) + " over " + DecimalFormat.fixed(trend.duration, decimals: 1) + " s (p "
                + (trend.pValue < 1e-6 ? "< 1e-6" : "= " + DecimalFormat.fixed(trend.pValue, decimals: 6)) + ")"
        }
        guard let residentTrend else {
            kind = .unknown
            explanation = resident.count < 3
                ? "too few samples to judge (\(resident.count); 3 are needed)"
                : "the samples span no time: nothing to fit"
            return
        }
        if let heapTrend, let heapPoints, grows(heapTrend, heapPoints) {
            kind = .leak
            explanation = "the heap in use grows by \(rate(heapTrend)), and still grows in the last half: memory is "
                + "allocated and not freed"
            return
        }
        if let fileTrend, let filePoints, grows(fileTrend, filePoints), grows(residentTrend, resident),
            fileTrend.change >= 0.5 * residentTrend.change
        {
            kind = .fileGrowth
            explanation = "file-backed pages grow by \(rate(fileTrend)): "
                + "\(DecimalFormat.fixed(min(fileTrend.change / residentTrend.change, 1) * 100, decimals: 0))% of the resident "
                + "set's growth is mapped files"
            return
        }
        if let heapPoints, let heapTrend {
            if grows(residentTrend, resident) {
                kind = .allocatorRetention
                explanation = "the resident set grows by \(rate(residentTrend)) while the heap in use does not "
                    + "(\(signed(heapTrend.change))): memory the allocator keeps, or memory not from malloc (mprof run "
                    + "--explain tells which)"
                return
            }
            // High after frees: the heap fell to half its peak or less, the resident set stayed within 80 % of its own.
            let heapPeak = max(heap?.map(\.bytes).max() ?? 0, heapPoints.map(\.bytes).max() ?? 0)
            let residentPeak = resident.map(\.bytes).max() ?? 0
            if let heapEnd = heapPoints.last?.bytes, let residentEnd = resident.last?.bytes,
                heapPeak - heapEnd >= 1_048_576, heapEnd <= 0.5 * heapPeak, residentEnd >= 0.8 * residentPeak,
                residentEnd - heapEnd >= 1_048_576
            {
                kind = .allocatorRetention
                explanation = "the heap in use fell from \(mebibytes(heapPeak)) to \(mebibytes(heapEnd)) but the resident "
                    + "set stayed at \(mebibytes(residentEnd)) of its \(mebibytes(residentPeak)) peak: the allocator keeps "
                    + "the freed memory, or memory not from malloc took its place (mprof run --explain tells which)"
                return
            }
        }
        if grows(residentTrend, resident) {
            kind = .growth
            explanation = "the resident set grows by \(rate(residentTrend)); record with --heap to tell a leak from "
                + "memory the allocator keeps"
            return
        }
        kind = .steady
        let floor = mebibytes(MemoryTrend.smallestChange(mean: residentTrend.mean))
        explanation = "no lasting growth: the resident set changes by \(rate(residentTrend)) after the warm-up "
            + "(growth counts at p < 0.001, at least \(floor), and still going on in the last half)"
            + (heapTrend.map { ", the heap in use by \(signed($0.change))" } ?? "")
    }

    /// The value of the step function `points` at each of `times` (the last point at or before it; 0 before all).
    static func resampled(_ points: [(time: Double, bytes: Double)], at times: [Double]) -> [(time: Double, bytes: Double)] {
        let sorted = points.sorted { $0.time < $1.time }
        var index = 0
        var current = 0.0
        var result: [(time: Double, bytes: Double)] = []
        for time in times.sorted() {
            while index < sorted.count && sorted[index].time <= time {
                current = sorted[index].bytes
                index += 1
            }
            result.append((time, current))
        }
        return result
    }
}

extension MemoryVerdict {
    /// The verdict on a recording: its samples, and the heap capture of the same run (`mprof run --heap`) if there is
    /// one. Both clocks are the wall clock.
    public init(recording: MprofFile, heap: HeapCapture? = nil) {
        // The last run of the file (runs appended with -o again are judged apart: the last one).
        let start = recording.runStarts.last.map { min($0, recording.samples.count) } ?? 0
        let samples = recording.samples[start...]
        let resident = samples.map { (time: $0.wallClock, bytes: Double($0.memory.bytes)) }
        let times = resident.map(\.time)
        let span = (times.min() ?? 0)...(times.max() ?? 0)
        // A capture counts only if it is this run's: it must cover most of the run's samples.
        var timeline: [(time: Double, bytes: Double)]?
        if let heap {
            let captureSpan = heap.startTime...(heap.startTime + heap.summary.duration + 0.5)
            let covered = times.filter { captureSpan.contains($0) }.count
            if !times.isEmpty, captureSpan.lowerBound <= span.lowerBound + 1, Double(covered) >= 0.8 * Double(times.count) {
                timeline = heap.heapTimeline.map { (time: heap.startTime + $0.time, bytes: Double($0.bytes)) }
            }
        }
        let files = recording.fileSamples.filter { span.contains($0.wallClock) }
        self.init(
            resident: resident, heap: timeline,
            file: files.isEmpty ? nil : files.map { (time: $0.wallClock, bytes: Double($0.memory.bytes)) })
        if heap != nil && timeline == nil {
            explanation += " (the heap capture beside the file is not this run's: left out)"
        }
        if !recording.children.isEmpty {
            explanation += " (the main process only: its \(recording.children.count) descendants were recorded apart)"
        }
    }
}
