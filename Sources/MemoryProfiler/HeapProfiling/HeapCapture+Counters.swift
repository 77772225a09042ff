/// Reading an aggregate capture's counters (`mprof run --heap --aggregate`, version 3: see <doc:HeapCaptureFormat>).
///
/// The hook keeps, per allocation site (a stack and a Swift type), twelve 64-bit counters in the file, updated in
/// place while the program runs, and a page of totals. Every value is checked against the others before a report
/// uses it: a damaged or half-written capture is an error, or (a site whose key was not yet written when the program
/// was killed) a site left out, never a number made up.
extension HeapCapture {
    /// The 64-bit words of one site's counters.
    static let siteWords = 12

    private enum Site {
        static let key = 0, allocations = 1, bytes = 2, live = 3, liveBytes = 4, peak = 5, peakBytes = 6, epoch = 7
        static let temporaries = 8, temporaryBytes = 9, leaked = 10, leakedBytes = 11
    }

    private enum Total {
        static let liveBytes = 0, peakBytes = 1, peakMilliseconds = 2, epoch = 3, allocations = 4, frees = 5
        static let bytes = 6, unknownFrees = 7, temporaries = 8, live = 9, sites = 10, leaked = 11, leakedBytes = 12
        static let histogram = 16
    }

    /// The largest count or byte total taken: past it a counter is damage.
    private static let largestCounter: UInt64 = 1 << 62

    /// Fills the capture's groups, counters and summary from the totals' and the sites' words.
    static func applyCounters(
        totals: [UInt64], sites words: [UInt64], to capture: inout HeapCapture
    ) throws(HeapCaptureReader.Failure) {
        func damaged(_ what: String) -> HeapCaptureReader.Failure {
            HeapCaptureReader.Failure(reason: "an aggregate capture whose \(what)", offset: nil)
        }
        guard totals.count >= Total.histogram + 130 else { throw damaged("totals are too short") }
        for index in 0..<(Total.histogram + 130) where index != Total.epoch && totals[index] > largestCounter {
            throw damaged("total \(index) is out of range (\(totals[index]))")
        }
        let siteCount = Int(totals[Total.sites])
        guard siteCount <= words.count / siteWords else {
            throw damaged("totals count \(siteCount) sites, and it has counters for \(words.count / siteWords)")
        }
        guard totals[Total.peakMilliseconds] <= 1 << 40 else { throw damaged("peak time is out of range") }
        var counters = GroupCounters()
        // Each column's sum over the sites: never past what a counter may hold (so that no report's sum overflows),
        // and, in a capture that ended normally, the totals' own figure.
        var sums = [UInt64](repeating: 0, count: siteWords)
        counters.histogram = (0..<65).map {
            (Int(totals[Total.histogram + 2 * $0]), Int(totals[Total.histogram + 2 * $0 + 1]))
        }
        let epoch = totals[Total.epoch]
        for site in 0..<siteCount {
            let slot = words[(site * siteWords)..<((site + 1) * siteWords)].map { $0 }
            let key = slot[Site.key]
            // A site the program was killed while making: nothing was counted for it yet.
            guard key >> 63 == 1 else { continue }
            for index in 1..<siteWords where index != Site.epoch && slot[index] > largestCounter {
                throw damaged("site \(site)'s counter \(index) is out of range (\(slot[index]))")
            }
            let leaf = (key >> 32) & 0x7FFF_FFFF, type = key & 0xFFFF_FFFF
            guard leaf <= UInt64(capture.parents.count), type <= UInt64(capture.types.count) else {
                throw damaged("site \(site) names a stack node or type that was never recorded")
            }
            guard slot[Site.live] <= slot[Site.allocations], slot[Site.liveBytes] <= slot[Site.bytes],
                slot[Site.temporaries] <= slot[Site.allocations], slot[Site.temporaryBytes] <= slot[Site.bytes],
                slot[Site.peak] <= slot[Site.allocations], slot[Site.peakBytes] <= slot[Site.bytes],
                slot[Site.leaked] <= slot[Site.live], slot[Site.leakedBytes] <= slot[Site.liveBytes]
            else { throw damaged("site \(site)'s counts contradict each other") }
            for index in 1..<siteWords where index != Site.epoch {
                sums[index] += slot[index]  // each at most 2^62: no overflow before the check
                guard sums[index] <= largestCounter else { throw damaged("sites' counter \(index) adds up past 2^62") }
            }
            capture.groupLeaves.append(UInt32(leaf))
            capture.groupTypes.append(UInt32(type))
            counters.allocations.append(Int(slot[Site.allocations]))
            counters.bytes.append(Int(slot[Site.bytes]))
            counters.live.append(Int(slot[Site.live]))
            counters.liveBytes.append(Int(slot[Site.liveBytes]))
            // Its counts at the last peak were kept when it changed after it; unchanged since, they are its counts now.
            let atPeak = slot[Site.epoch] == epoch
            counters.peak.append(Int(atPeak ? slot[Site.peak] : slot[Site.live]))
            counters.peakBytes.append(Int(atPeak ? slot[Site.peakBytes] : slot[Site.liveBytes]))
            counters.temporaries.append(Int(slot[Site.temporaries]))
            counters.temporaryBytes.append(Int(slot[Site.temporaryBytes]))
            counters.leaked.append(Int(slot[Site.leaked]))
            counters.leakedBytes.append(Int(slot[Site.leakedBytes]))
        }
        if capture.summary.finishedNormally {
            let pairs = [
                (Site.allocations, Total.allocations), (Site.bytes, Total.bytes), (Site.live, Total.live),
                (Site.liveBytes, Total.liveBytes), (Site.temporaries, Total.temporaries),
            ]
            for (site, total) in pairs where sums[site] != totals[total] {
                throw damaged("sites' counter \(site) adds up to \(sums[site]), and the totals say \(totals[total])")
            }
        }
        capture.counters = counters
        capture.summary.allocations = Int(totals[Total.allocations])
        capture.summary.frees = Int(totals[Total.frees])
        capture.summary.bytesAllocated = Int(totals[Total.bytes])
        capture.summary.peakBytes = Int(totals[Total.peakBytes])
        capture.summary.peakTime = Double(totals[Total.peakMilliseconds]) / 1000
        capture.summary.blocksNotFreed = Int(totals[Total.live])
        capture.summary.bytesNotFreed = Int(totals[Total.liveBytes])
        capture.summary.temporaries = Int(totals[Total.temporaries])
        capture.summary.freesOfUnknownBlocks = Int(totals[Total.unknownFrees])
        if capture.summary.peakBytes < capture.summary.bytesNotFreed {
            // The hook raises the peak a few stores after the bytes live: a program killed in between (as it grows
            // towards the OOM killer, at a new peak on most allocations), or a capture read while it runs, is there
            // now. (Its sites agree: the one that changed last is behind the epoch, so its live counts are taken.)
            guard !capture.summary.finishedNormally else {
                throw damaged("peak (\(capture.summary.peakBytes) bytes) is below the bytes live at its end")
            }
            capture.summary.peakBytes = capture.summary.bytesNotFreed
        }
        if capture.summary.reachabilityScanned {
            capture.summary.blocksLeaked = Int(totals[Total.leaked])
            capture.summary.bytesLeaked = Int(totals[Total.leakedBytes])
        }
    }
}
