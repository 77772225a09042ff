// What the heap targets (capture, compressed) do with a capture once it is read; linked into those targets only.
import MemoryPlot
import MemoryProfiler

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
}
