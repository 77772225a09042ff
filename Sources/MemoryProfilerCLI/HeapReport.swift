import MemoryProfiler
import MemoryProfilerSystem

/// `mprof heap`'s text report.
struct HeapText {
    let path: String
    let capture: HeapCapture
    let profile: HeapProfile
    let top: Int
    let stackDepth: Int
    /// The program is still running and writing the capture.
    let beingWritten: Bool

    func render(_ sections: [String]) -> String {
        var text = ""
        for section in sections {
            switch section {
            case "summary": text += summary()
            case "peak":
                text += sites(
                    .peak, title: "PEAK: allocated when the heap was largest (\(bytes(profile.summary.peakBytes)) at \(seconds(profile.summary.peakTime)))")
            case "leaks":
                text += sites(
                    .leaks,
                    title: capture.summary.leakScanFailure.map {
                        "LEAKS: no leak scan was made: \(TerminalText.escaped($0)). No block is known to be leaked; "
                            + "those not freed are under --view not-freed"
                    } ?? (capture.summary.reachabilityScanned
                        ? "LEAKS: never freed, and nothing in the process pointed to them at exit"
                        : beingWritten
                            ? "LEAKS: not known before the program exits (it is still running): every block not freed so far, reachable or not"
                        : capture.summary.finishedNormally
                            ? "LEAKS: no reachability scan was made (MPROF_HEAP_REACHABILITY=0, or it could not run): every block not freed, reachable or not"
                            : "LEAKS: no reachability scan (the program did not exit normally): every block not freed, reachable or not"))
            case "not-freed":
                text += sites(.notFreed, title: "NOT FREED: still allocated at exit, reachable or not")
            case "temporary":
                text += sites(.temporary, title: "TEMPORARY: freed by their thread before it allocated anything else")
            case "calls": text += sites(.calls, title: "CALLS: the sites that allocate most often")
            case "allocated": text += sites(.allocated, title: "ALLOCATED: all allocations, by bytes")
            case "sizes": text += sizes()
            default: break
            }
        }
        for note in profile.notes { text += "note: \(TerminalText.escaped(note))\n" }
        return text
    }

    private func summary() -> String {
        let summary = profile.summary
        var text = "Heap profile of \(TerminalText.escaped(capture.executable)) (PID \(capture.processID)), "
            + "\(seconds(summary.duration)), stacks by \(TerminalText.escaped(capture.unwinder))\n"
        if capture.isAggregate {
            text += "  kept as      counters per allocation site (--aggregate): the order of events is not kept, and the "
                + "sizes are the whole program's\n"
        }
        text += "  allocations  \(count(summary.allocations)) (\(bytes(summary.bytesAllocated)) asked for), \(count(summary.frees)) frees\n"
        text += "  peak heap    \(bytes(summary.peakBytes)) at \(seconds(summary.peakTime))\n"
        text += "  at exit      \(bytes(summary.bytesAtEnd)) in \(count(summary.blocksAtEnd)) block\(summary.blocksAtEnd == 1 ? "" : "s") not freed\n"
        if summary.reachabilityScanned {
            text += "  leaked       \(bytes(summary.unreachableBytes)) in \(count(summary.unreachableBlocks)) block\(summary.unreachableBlocks == 1 ? "" : "s") nothing pointed to at exit\n"
        } else if let failure = summary.leakScanFailure {
            text += "  leaked       unknown: no leak scan was made: \(TerminalText.escaped(failure))\n"
        }
        if summary.unrecordedSignalEvents > 0 {
            text += "  \(count(summary.unrecordedSignalEvents)) allocations/frees were made in signal handlers inside the hook and are "
                + "not recorded; counts are not exact.\n"
        }
        text += "  temporary    \(count(summary.temporaries)) allocations freed at once\n"
        if !profile.filter.isEmpty {
            let allocated = profile.total(.allocated), peak = profile.total(.peak), notFreed = profile.total(.notFreed)
            text += "  matching     \(Self.describe(profile.filter)): \(count(allocated.count)) allocations "
                + "(\(bytes(allocated.bytes))), \(bytes(peak.bytes)) of the peak, \(bytes(notFreed.bytes)) not freed at exit. "
                + "The lines above are the whole capture; the sections below hold only these.\n"
        }
        if let replacement = summary.replacedBy {
            text += "  The capture ends where the program replaced itself with \(TerminalText.quoted(replacement, limit: 200)) (exec), "
                + "which the hook could not follow (a static or set-ID program, or one started without the hook).\n"
        } else if beingWritten {
            text += "  The program is still running and writing this capture: everything up to its last record is shown. "
                + "Leaks are found when it exits.\n"
        } else if let cause = summary.stoppedEarlyBecause {
            text += "  The capture was cut short: \(TerminalText.escaped(cause)). Everything up to there is shown.\n"
        } else if !summary.finishedNormally {
            text += "  The capture ends early: the program was killed (SIGKILL, the OOM killer) or crashed, or the capture "
                + "could not grow. Everything up to its last record is shown.\n"
        }
        if summary.freesOfUnknownBlocks > 0 {
            text += "  \(count(summary.freesOfUnknownBlocks)) frees of blocks allocated before recording started were left out.\n"
        }
        return text + "\n"
    }

    /// The filter in the command's words: `--function X --module Y`, quoted and escaped.
    static func describe(_ filter: HeapProfile.Filter) -> String {
        [filter.function.map { "--function \(TerminalText.quoted($0, limit: 80))" }, filter.module.map { "--module \(TerminalText.quoted($0, limit: 80))" }]
            .compactMap { $0 }.joined(separator: " ")
    }

    private func sites(_ view: HeapProfile.View, title: String) -> String {
        let all = profile.sites(view)
        let total = all.reduce(0) { $0 + (view == .calls || view == .temporary ? $1.count : $1.bytes) }
        var text = "\(title)\n"
        guard !all.isEmpty else { return text + "  (none)\n\n" }
        text += "  \(pad("bytes", 10))  \(pad("share", 6))  \(pad("allocations", 12))  site\n"
        for site in all.prefix(top) {
            let measure = view == .calls || view == .temporary ? site.count : site.bytes
            let share = total > 0 ? Double(measure) / Double(total) * 100 : 0
            let what = site.typeName.map { "\(TerminalText.escaped($0)) from " } ?? ""
            text += "  \(pad(bytes(site.bytes), 10))  \(pad(DecimalFormat.fixed(share, decimals: 1) + "%", 6))  "
                + "\(pad(count(site.count), 12))  \(what)\(TerminalText.escaped(site.frame.location))\n"
            text += stackLines(site)
        }
        if all.count > top { text += "  … and \(count(all.count - top)) more sites (--top)\n" }
        return text + "\n"
    }

    /// The heaviest stack around the site: the call it went through inside the libraries, then its callers.
    private func stackLines(_ site: HeapProfile.Site) -> String {
        guard stackDepth > 0, let position = site.stack.firstIndex(of: site.frame) else { return "" }
        let indent = String(repeating: " ", count: 38)
        var text = ""
        if let via = site.stack[..<position].last(where: { !HeapProfile.isPlumbingFrame($0) }) {
            text += "\(indent)via \(TerminalText.escaped(via.location))\n"
        }
        // Callers in the program's own code: the C library's start-up frames below main say nothing.
        let callers = site.stack[(position + 1)...].filter { !$0.isSystem && !HeapProfile.isPlumbingFrame($0) && $0.function != "_start" }
        for frame in callers.prefix(stackDepth) {
            text += "\(indent)← \(TerminalText.escaped(frame.location))\n"
        }
        return text
    }

    private func sizes() -> String {
        var text = "SIZES: allocations by size\n  \(pad("size", 21))  \(pad("allocations", 12))  \(pad("bytes", 10))\n"
        for bucket in profile.sizeHistogram {
            let range = bucket.sizes.lowerBound == bucket.sizes.upperBound
                ? "\(bucket.sizes.lowerBound) B" : "\(bucket.sizes.lowerBound)–\(bucket.sizes.upperBound) B"
            text += "  \(pad(range, 21))  \(pad(count(bucket.count), 12))  \(pad(bytes(bucket.bytes), 10))\n"
        }
        return text + "\n"
    }

    private func pad(_ text: String, _ width: Int) -> String {
        String(repeating: " ", count: max(0, width - text.count)) + text
    }
}

/// A byte count as a person reads it: `512 B`, `12.5 KiB`, `41.2 MiB`, `1.3 GiB`.
func bytes(_ value: Int) -> String {
    let magnitude = Double(value)
    if abs(value) < 1024 { return "\(value) B" }
    if abs(magnitude) < 1_048_576 { return DecimalFormat.fixed(magnitude / 1024, decimals: 1) + " KiB" }
    if abs(magnitude) < 1_073_741_824 { return DecimalFormat.fixed(magnitude / 1_048_576, decimals: 1) + " MiB" }
    return DecimalFormat.fixed(magnitude / 1_073_741_824, decimals: 2) + " GiB"
}

/// A count with thousands separated: `1,231,034`.
func count(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var result = ""
    for (index, digit) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { result += "," }
        result.append(digit)
    }
    return (value < 0 ? "-" : "") + result
}

private func seconds(_ value: Double) -> String { DecimalFormat.fixed(value, decimals: 3) + " s" }

/// `mprof heap --json`: the same sections, as data.
struct HeapReport: Encodable {
    struct Frame: Encodable {
        var function: String
        var file: String?
        var line: Int?
        var module: String
        var inlined: Bool

        init(_ frame: HeapSymbols.Frame) {
            function = frame.function
            file = frame.file
            line = frame.line
            module = frame.module
            inlined = frame.isInlined
        }
    }

    struct Site: Encodable {
        var bytes: Int
        var allocations: Int
        var type: String?
        var site: Frame
        var stack: [Frame]
    }

    struct Bucket: Encodable {
        var smallest: Int
        var largest: Int
        var allocations: Int
        var bytes: Int
    }

    struct Summary: Encodable {
        /// Counters per allocation site (`mprof run --heap --aggregate`) rather than every event.
        var aggregate: Bool
        var allocations: Int
        var frees: Int
        var bytesAllocated: Int
        var peakBytes: Int
        var peakSeconds: Double
        var blocksNotFreed: Int
        var bytesNotFreed: Int
        var temporaries: Int
        var seconds: Double
        var finishedNormally: Bool
        var freesOfUnknownBlocks: Int
        var reachabilityScanned: Bool
        var blocksLeaked: Int
        var bytesLeaked: Int
        var leakScanFailure: String?
        var stoppedEarlyBecause: String?
        var unrecordedSignalEvents: Int
    }

    /// What --function and --module keep, when either is given: the summary above is the whole capture.
    struct Matching: Encodable {
        var function: String?
        var module: String?
        var allocations: Int
        var bytesAllocated: Int
        var peakBytes: Int
        var bytesNotFreed: Int
    }

    var capture: String
    var executable: String
    var pid: Int32
    var unwinder: String
    var summary: Summary
    var matching: Matching?
    var peak: [Site]?
    var leaks: [Site]?
    var notFreed: [Site]?
    var temporary: [Site]?
    var calls: [Site]?
    var allocated: [Site]?
    var sizes: [Bucket]?
    var notes: [String]
    /// The program was still running and writing the capture when it was read.
    var beingWritten = false

    init(path: String, capture: HeapCapture, profile: HeapProfile, sections: [String], top: Int, stackDepth: Int) {
        self.capture = path
        executable = capture.executable
        pid = capture.processID
        unwinder = capture.unwinder
        let s = profile.summary
        summary = Summary(
            aggregate: capture.isAggregate, allocations: s.allocations, frees: s.frees, bytesAllocated: s.bytesAllocated, peakBytes: s.peakBytes,
            peakSeconds: s.peakTime, blocksNotFreed: s.blocksAtEnd, bytesNotFreed: s.bytesAtEnd,
            temporaries: s.temporaries, seconds: s.duration, finishedNormally: s.finishedNormally,
            freesOfUnknownBlocks: s.freesOfUnknownBlocks, reachabilityScanned: s.reachabilityScanned,
            blocksLeaked: s.unreachableBlocks, bytesLeaked: s.unreachableBytes,
            leakScanFailure: capture.summary.leakScanFailure, stoppedEarlyBecause: capture.summary.stoppedEarlyBecause,
            unrecordedSignalEvents: capture.summary.unrecordedSignalEvents)
        notes = profile.notes
        if !profile.filter.isEmpty {
            let allocated = profile.total(.allocated)
            matching = Matching(
                function: profile.filter.function, module: profile.filter.module, allocations: allocated.count,
                bytesAllocated: allocated.bytes, peakBytes: profile.total(.peak).bytes,
                bytesNotFreed: profile.total(.notFreed).bytes)
        }
        func sites(_ view: HeapProfile.View) -> [Site]? {
            guard sections.contains(view.rawValue) else { return nil }
            return profile.sites(view).prefix(top).map { site in
                Site(
                    bytes: site.bytes, allocations: site.count, type: site.typeName, site: Frame(site.frame),
                    stack: site.stack.prefix(max(stackDepth, 1) * 4 + 8).map(Frame.init))
            }
        }
        peak = sites(.peak)
        leaks = sites(.leaks)
        notFreed = sites(.notFreed)
        temporary = sites(.temporary)
        calls = sites(.calls)
        allocated = sites(.allocated)
        if sections.contains("sizes") {
            sizes = profile.sizeHistogram.map {
                Bucket(smallest: $0.sizes.lowerBound, largest: $0.sizes.upperBound, allocations: $0.count, bytes: $0.bytes)
            }
        }
    }
}
