import MemoryProfiler
internal import MemoryProfilerSystem

/// A heap profile as `mprof heap` reports it: its summary and the sections asked for, as text (``text()``) or as data
/// (`Encodable`, with the library's own names: `mprof heap --json` is this value encoded).
///
/// ```swift
/// let (_, heap) = try HeapRegion.profile { buildIndex(of: documents) }
/// print(heap.report(sections: [.summary, .peak], top: 3).text())
/// ```
public struct HeapReport: Sendable, Encodable {
    /// The parts of a report, in the order they are printed when asked for.
    public enum Section: String, CaseIterable, Sendable, Encodable {
        /// The totals: allocations, frees, the peak, what was not freed and what was leaked.
        case summary
        /// See ``HeapProfile/View/peak``.
        case peak
        /// See ``HeapProfile/View/leaks``.
        case leaks
        /// See ``HeapProfile/View/notFreed``.
        case notFreed = "not-freed"
        /// See ``HeapProfile/View/temporary``.
        case temporary
        /// See ``HeapProfile/View/calls``.
        case calls
        /// See ``HeapProfile/View/allocated``.
        case allocated
        /// Allocations by size, in power-of-two buckets.
        case sizes

        /// What `mprof heap` prints when no section is named: all but ``notFreed`` and ``allocated``.
        public static let standard: [Section] = [.summary, .peak, .leaks, .temporary, .calls, .sizes]

        /// The view of allocations the section lists, if it lists sites.
        public var view: HeapProfile.View? { HeapProfile.View(rawValue: rawValue) }
    }

    /// What the profile's filter (``HeapProfile/Filter``) keeps, when it keeps less than everything; the summary is
    /// the whole capture's.
    public struct Matching: Sendable, Encodable {
        public var function: String?
        public var module: String?
        public var allocations: Int
        public var bytesAllocated: Int
        public var peakBytes: Int
        public var bytesNotFreed: Int
    }

    /// The capture's path, when the report was made from a file.
    public var capture: String?
    /// The recorded program's executable.
    public var executable: String
    /// The recorded process.
    public var processID: Int32
    /// How its stacks were walked.
    public var unwinder: String
    /// Counters per allocation site (`mprof run --heap --aggregate`) rather than every event.
    public var isAggregate: Bool
    /// The capture's totals (not filtered).
    public var summary: HeapCapture.Summary
    /// What the filter keeps, when there is one.
    public var matching: Matching?
    /// The sites of each section asked for that lists sites, the largest first, at most `top` of them.
    public var peak, leaks, notFreed, temporary, calls, allocated: [HeapProfile.Site]?
    /// The size histogram, when asked for.
    public var sizes: [HeapProfile.SizeBucket]?
    /// What the symbolizer could not do.
    public var notes: [String]
    /// The program was still running and writing the capture when it was read: leaks are not known yet.
    public var isBeingWritten: Bool

    /// The sections, in the order asked for.
    public let sections: [Section]
    /// Frames of each site's heaviest stack the text prints below it.
    public let stackDepth: Int
    /// Per view: all its sites' bytes (allocations for a counted view) and how many sites it has, beyond `top`.
    private var totals: [HeapProfile.View: (measure: Int, sites: Int)] = [:]
    private var filter: HeapProfile.Filter

    /// The report of `profile`'s `sections`, with at most `top` sites each and `stackDepth` frames of stack.
    ///
    /// - Parameters:
    ///   - capture: The capture's path, to name in the report.
    ///   - isBeingWritten: The program is still writing the capture (see ``HeapCapture/isBeingWritten(at:)``).
    public init(
        _ profile: HeapProfile, sections: [Section] = Section.standard, top: Int = 10, stackDepth: Int = 4,
        capture: String? = nil, isBeingWritten: Bool = false
    ) {
        self.capture = capture
        executable = profile.executable
        processID = profile.processID
        unwinder = profile.unwinder
        isAggregate = profile.isAggregate
        summary = profile.summary
        notes = profile.notes
        self.isBeingWritten = isBeingWritten
        self.sections = sections
        self.stackDepth = max(0, stackDepth)
        filter = profile.filter
        let top = max(1, top)
        if !profile.filter.isEmpty {
            let allocated = profile.total(.allocated)
            matching = Matching(
                function: profile.filter.function, module: profile.filter.module, allocations: allocated.allocations,
                bytesAllocated: allocated.bytes, peakBytes: profile.total(.peak).bytes,
                bytesNotFreed: profile.total(.notFreed).bytes)
        }
        for section in sections {
            guard let view = section.view, totals[view] == nil else { continue }
            let all = profile.sites(view)
            totals[view] = (all.reduce(0) { $0 + (view.isCounted ? $1.allocations : $1.bytes) }, all.count)
            let kept = Array(all.prefix(top))
            switch view {
            case .peak: peak = kept
            case .leaks: leaks = kept
            case .notFreed: notFreed = kept
            case .temporary: temporary = kept
            case .calls: calls = kept
            case .allocated: allocated = kept
            }
        }
        if sections.contains(.sizes) { sizes = profile.sizeHistogram }
    }

    /// The sites kept of `view`, if its section was asked for.
    public func sites(_ view: HeapProfile.View) -> [HeapProfile.Site]? {
        switch view {
        case .peak: peak
        case .leaks: leaks
        case .notFreed: notFreed
        case .temporary: temporary
        case .calls: calls
        case .allocated: allocated
        }
    }

    private enum CodingKeys: String, CodingKey {
        case capture, executable, processID, unwinder, isAggregate, summary, matching, peak, leaks, notFreed, temporary
        case calls, allocated, sizes, notes, isBeingWritten
    }

    /// Encodes the report; each site's stack is cut to the frames a reader needs (a few per frame of
    /// ``stackDepth``, with room for the libraries' own), as deep stacks of thousands of sites would be most of it.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(capture, forKey: .capture)
        try container.encode(executable, forKey: .executable)
        try container.encode(processID, forKey: .processID)
        try container.encode(unwinder, forKey: .unwinder)
        try container.encode(isAggregate, forKey: .isAggregate)
        try container.encode(summary, forKey: .summary)
        try container.encodeIfPresent(matching, forKey: .matching)
        let frames = max(stackDepth, 1) * 4 + 8
        func cut(_ sites: [HeapProfile.Site]?) -> [HeapProfile.Site]? {
            sites?.map { site in
                var site = site
                site.stack = Array(site.stack.prefix(frames))
                return site
            }
        }
        try container.encodeIfPresent(cut(peak), forKey: .peak)
        try container.encodeIfPresent(cut(leaks), forKey: .leaks)
        try container.encodeIfPresent(cut(notFreed), forKey: .notFreed)
        try container.encodeIfPresent(cut(temporary), forKey: .temporary)
        try container.encodeIfPresent(cut(calls), forKey: .calls)
        try container.encodeIfPresent(cut(allocated), forKey: .allocated)
        try container.encodeIfPresent(sizes, forKey: .sizes)
        try container.encode(notes, forKey: .notes)
        try container.encode(isBeingWritten, forKey: .isBeingWritten)
    }

    // MARK: Text

    /// The report as `mprof heap` prints it: the sections in the order asked for, then the symbolizer's notes.
    /// Text from the capture (names, paths) is escaped for the terminal.
    public func text() -> String {
        var text = ""
        for section in sections {
            switch section {
            case .summary: text += summaryText()
            case .peak:
                text += sitesText(
                    .peak, title: "PEAK: allocated when the heap was largest (\(Quantity.bytes(summary.peakBytes)) at \(Quantity.seconds(summary.peakTime)))")
            case .leaks: text += sitesText(.leaks, title: leaksTitle)
            case .notFreed: text += sitesText(.notFreed, title: "NOT FREED: still allocated at exit, reachable or not")
            case .temporary: text += sitesText(.temporary, title: "TEMPORARY: freed by their thread before it allocated anything else")
            case .calls: text += sitesText(.calls, title: "CALLS: the sites that allocate most often")
            case .allocated: text += sitesText(.allocated, title: "ALLOCATED: all allocations, by bytes")
            case .sizes: text += sizesText()
            }
        }
        for note in notes { text += "note: \(TerminalText.escaped(note))\n" }
        return text
    }

    private var leaksTitle: String {
        if let failure = summary.leakScanFailure {
            return "LEAKS: no leak scan was made: \(TerminalText.escaped(failure)). No block is known to be leaked; "
                + "those not freed are under --view not-freed"
        }
        if summary.reachabilityScanned { return "LEAKS: never freed, and nothing in the process pointed to them at exit" }
        if isBeingWritten {
            return "LEAKS: not known before the program exits (it is still running): every block not freed so far, reachable or not"
        }
        if summary.finishedNormally {
            return "LEAKS: no reachability scan was made (MPROF_HEAP_REACHABILITY=0, or it could not run): every block not freed, reachable or not"
        }
        return "LEAKS: no reachability scan (the program did not exit normally): every block not freed, reachable or not"
    }

    private func summaryText() -> String {
        let count = Quantity.count, bytes = Quantity.bytes
        var text = "Heap profile of \(TerminalText.escaped(executable)) (PID \(processID)), "
            + "\(Quantity.seconds(summary.duration)), stacks by \(TerminalText.escaped(unwinder))\n"
        if isAggregate {
            text += "  kept as      counters per allocation site (--aggregate): the order of events is not kept, and the "
                + "sizes are the whole program's\n"
        }
        text += "  allocations  \(count(summary.allocations)) (\(bytes(summary.bytesAllocated)) asked for), \(count(summary.frees)) frees\n"
        text += "  peak heap    \(bytes(summary.peakBytes)) at \(Quantity.seconds(summary.peakTime))\n"
        text += "  at exit      \(bytes(summary.bytesNotFreed)) in \(count(summary.blocksNotFreed)) block\(summary.blocksNotFreed == 1 ? "" : "s") not freed\n"
        if summary.reachabilityScanned {
            text += "  leaked       \(bytes(summary.bytesLeaked)) in \(count(summary.blocksLeaked)) block\(summary.blocksLeaked == 1 ? "" : "s") nothing pointed to at exit\n"
        } else if let failure = summary.leakScanFailure {
            text += "  leaked       unknown: no leak scan was made: \(TerminalText.escaped(failure))\n"
        }
        if summary.unrecordedSignalEvents > 0 {
            text += "  \(count(summary.unrecordedSignalEvents)) allocations/frees were made in signal handlers inside the hook and are "
                + "not recorded; counts are not exact.\n"
        }
        text += "  temporary    \(count(summary.temporaries)) allocations freed at once\n"
        if let matching {
            text += "  matching     \(Self.describe(filter)): \(count(matching.allocations)) allocations "
                + "(\(bytes(matching.bytesAllocated))), \(bytes(matching.peakBytes)) of the peak, \(bytes(matching.bytesNotFreed)) not freed at exit. "
                + "The lines above are the whole capture; the sections below hold only these.\n"
        }
        if let replacement = summary.replacedBy {
            text += "  The capture ends where the program replaced itself with \(TerminalText.quoted(replacement, limit: 200)) (exec), "
                + "which the hook could not follow (a static or set-ID program, or one started without the hook).\n"
        } else if isBeingWritten {
            text += "  The program is still running and writing this capture: everything up to its last record is shown. "
                + "Leaks are found when it exits.\n"
        } else if let cause = summary.stoppedEarlyBecause {
            text += "  The capture was cut short: \(TerminalText.escaped(cause)). Everything up to there is shown.\n"
        } else if !summary.finishedNormally {
            text += "  The capture ends early: the program was killed (SIGKILL, the OOM killer) or crashed, or the capture "
                + "could not grow. Everything up to its last record is shown.\n"
        }
        if summary.freesOfUnknownBlocks > 0 {
            let frees = summary.freesOfUnknownBlocks == 1 ? "free" : "frees"
            text += "  \(count(summary.freesOfUnknownBlocks)) \(frees) of blocks allocated before recording started were left out.\n"
        }
        return text + "\n"
    }

    /// The sites that weigh most in `view`, one line each, as a budget's failure lists them: the first, and after it
    /// up to `top` with at least 1% of the view's total (a few hundred bytes of bookkeeping are noise beside a
    /// budget). Each line: bytes, allocations, the Swift type, where, and the first caller in the program's own code
    /// (`48.0 MiB in 1 allocation: filledBuffer(bytes:) at Indexing.swift:21 ← holdsMore() at Tests.swift:35`).
    public static func siteLines(_ heap: HeapProfile, _ view: HeapProfile.View, top: Int = 3) -> [String] {
        let sites = heap.sites(view)
        let total = sites.reduce(0) { $0 + (view.isCounted ? $1.allocations : $1.bytes) }
        var lines: [String] = []
        for (index, site) in sites.prefix(top).enumerated()
        where index == 0 || (view.isCounted ? site.allocations : site.bytes) * 100 >= total {
            let what = site.typeName.map { "\(TerminalText.escaped($0)) from " } ?? ""
            let allocations = "\(Quantity.count(site.allocations)) allocation\(site.allocations == 1 ? "" : "s")"
            var line = "\(Quantity.bytes(site.bytes)) in \(allocations): \(what)" + TerminalText.escaped(site.frame.location)
            if let position = site.stack.firstIndex(of: site.frame),
                let caller = site.stack[(position + 1)...].first(where: isCallerWorthNaming)
            {
                line += " ← " + TerminalText.escaped(caller.location)
            }
            lines.append(line)
        }
        return lines
    }

    /// A frame that says who called: the program's own code, not a thunk or the code a macro (`#expect`) expanded
    /// to, which names a file nobody wrote.
    static func isCallerWorthNaming(_ frame: HeapSymbols.Frame) -> Bool {
        !frame.isSystem && !HeapProfile.isPlumbingFrame(frame) && !(frame.file ?? "").contains("swift-generated-sources")
            && !frame.function.hasPrefix("partial apply") && !frame.function.hasPrefix("freestanding macro expansion")
            && !frame.function.contains("thunk") && frame.function != "_start"
    }

    /// A filter in `mprof heap`'s words: `--function X --module Y`, quoted and escaped.
    public static func describe(_ filter: HeapProfile.Filter) -> String {
        [filter.function.map { "--function \(TerminalText.quoted($0, limit: 80))" }, filter.module.map { "--module \(TerminalText.quoted($0, limit: 80))" }]
            .compactMap { $0 }.joined(separator: " ")
    }

    private func sitesText(_ view: HeapProfile.View, title: String) -> String {
        let kept = sites(view) ?? []
        let (total, siteCount) = totals[view] ?? (0, 0)
        var text = "\(title)\n"
        guard !kept.isEmpty else { return text + "  (none)\n\n" }
        text += "  \(pad("bytes", 10))  \(pad("share", 6))  \(pad("allocations", 12))  site\n"
        for site in kept {
            let measure = view.isCounted ? site.allocations : site.bytes
            let what = site.typeName.map { "\(TerminalText.escaped($0)) from " } ?? ""
            text += "  \(pad(Quantity.bytes(site.bytes), 10))  \(pad(Quantity.share(measure, of: total), 6))  "
                + "\(pad(Quantity.count(site.allocations), 12))  \(what)\(TerminalText.escaped(site.frame.location))\n"
            text += stackLines(site)
        }
        if siteCount > kept.count { text += "  … and \(Quantity.count(siteCount - kept.count)) more sites (--top)\n" }
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

    private func sizesText() -> String {
        var text = "SIZES: allocations by size\n  \(pad("size", 21))  \(pad("allocations", 12))  \(pad("bytes", 10))\n"
        for bucket in sizes ?? [] {
            let range = bucket.sizes.lowerBound == bucket.sizes.upperBound
                ? "\(bucket.sizes.lowerBound) B" : "\(bucket.sizes.lowerBound)–\(bucket.sizes.upperBound) B"
            text += "  \(pad(range, 21))  \(pad(Quantity.count(bucket.allocations), 12))  \(pad(Quantity.bytes(bucket.bytes), 10))\n"
        }
        return text + "\n"
    }

    private func pad(_ text: String, _ width: Int) -> String {
        String(repeating: " ", count: max(0, width - text.count)) + text
    }
}

extension HeapProfile {
    /// This profile's report: see ``HeapReport``.
    public func report(sections: [HeapReport.Section] = HeapReport.Section.standard, top: Int = 10, stackDepth: Int = 4) -> HeapReport {
        HeapReport(self, sections: sections, top: top, stackDepth: stackDepth)
    }

    /// This profile as `mprof heap` prints it: see ``HeapReport/text()``.
    public func text(sections: [HeapReport.Section] = HeapReport.Section.standard, top: Int = 10, stackDepth: Int = 4) -> String {
        report(sections: sections, top: top, stackDepth: stackDepth).text()
    }
}
