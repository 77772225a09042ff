// What the heap targets (capture, compressed) do with a capture once it is read; linked into those targets only.
import MemoryPlot
import MemoryProfiler
import MemoryReports

private let namer = HeapSymbolizer(symbolizer: nil, demangler: nil)

/// Everything `mprof heap` does with a capture once it is read.
func exercise(_ capture: HeapCapture) {
    let profile = HeapProfile(capture, symbols: namer.symbolize(capture))
    for view in HeapProfile.View.allCases {
        _ = profile.sites(view)
        for line in profile.collapsedStacks(view).split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            guard let space = line.lastIndex(of: " "), Int(line[line.index(after: space)...]) != nil else {
                fatalError("a collapsed stack line without its value: \(line.unicodeScalars.map(\.value))")
            }
            if line.unicodeScalars.contains(where: { $0.value < 0x20 || $0 == "\u{2028}" || $0 == "\u{2029}" }) {
                fatalError("a control character in a collapsed stack line")
            }
        }
    }
    _ = profile.sizeHistogram
    _ = profile.pprof(inUseAt: .peak)
    _ = profile.pprof(inUseAt: .exit)
    let graph = HeapFlameGraph(profile, view: .peak, title: "fuzz")
    _ = graph.svg()
    _ = graph.html()
    // The report mprof heap prints: no text from the capture reaches the terminal unescaped.
    let text = HeapReport(profile, sections: HeapReport.Section.allCases, top: 5, stackDepth: 3).text()
    if text.unicodeScalars.contains(where: { ($0.value < 0x20 && $0 != "\n") || $0.value == 0x7F || $0.value == 0x1B }) {
        fatalError("a control character in the heap report")
    }
}
