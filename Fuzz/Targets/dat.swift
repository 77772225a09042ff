// The .dat reader, as `mprof peak` and `mprof plot` use it: parse, take the peaks, draw.
//
// Each input is parsed twice, through the library's two public entry points: from a file (the bytes as they
// are, read as mprof reads a profile) and from a String (the bytes decoded as UTF-8). For valid UTF-8 the two
// must agree exactly — same records, or the same error on the same line — which catches a parse that depends on
// where it started rather than a crash alone. The plots are drawn at the default 960×540 and 100 columns, so the
// cost of an input is bounded by its length.
import MemoryPlot
import MemoryProfiler

private let scratch = ScratchFile()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDatFile(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    scratch.write(bytes)
    let fromFile = Result { () throws(MprofFileError) in try MprofFile(path: scratch.path) }
    let text = String(decoding: bytes, as: UTF8.self)
    if text.utf8.elementsEqual(bytes) {
        let fromText = Result { () throws(MprofFileError) in try MprofFile(parsing: text, path: scratch.path) }
        checkSame(fromFile, fromText)
    }
    let file: MprofFile
    switch fromFile {
    case .success(let parsed): file = parsed
    case .failure(let error):
        _ = error.description  // what mprof prints: the path and the quoted, escaped field
        return 0
    }
    checkPeaks(of: file)
    draw(file)
    return 0
}

private func checkSame(_ fromFile: Result<MprofFile, MprofFileError>, _ fromText: Result<MprofFile, MprofFileError>) {
    switch (fromFile, fromText) {
    case (.success(let a), .success(let b)):
        let same =
            a.commandLine == b.commandLine && a.commandLineCount == b.commandLineCount && a.reader == b.reader
            && a.samples == b.samples && a.intervalPeaks == b.intervalPeaks && a.children == b.children
            && a.functions == b.functions
        if !same { fatalError("MprofFile(path:) and MprofFile(parsing:) read different records") }
    case (.failure(let a), .failure(let b)):
        if a != b { fatalError("MprofFile(path:) and MprofFile(parsing:) fail differently: \(a) | \(b)") }
    case (.success, .failure(let error)):
        fatalError("only MprofFile(parsing:) fails: \(error)")
    case (.failure(let error), .success):
        fatalError("only MprofFile(path:) fails: \(error)")
    }
}

/// The peak is the highest sample or `PEAK` record (with no sample at all, the highest `PEAK`, and no sampled
/// peak); a function's peak is never above the file's.
private func checkPeaks(of file: MprofFile) {
    let highestSample = file.samples.map(\.memory).max()
    let highestRecord = file.intervalPeaks.map(\.memory).max()
    guard let peak = file.peak() else {
        if highestSample != nil || highestRecord != nil { fatalError("no peak for a file with samples or PEAK records") }
        return
    }
    let expected = [highestSample, highestRecord].compactMap { $0 }.max()
    if peak.memory != expected || peak.sampled != highestSample {
        fatalError("peak \(peak) for samples up to \(String(describing: highestSample)) and PEAK records up to \(String(describing: highestRecord))")
    }
    for name in file.functionNames {
        if let functionPeak = file.peak(function: name), functionPeak.memory > peak.memory {
            fatalError("peak of \(name) \(functionPeak) above the file's \(peak)")
        }
    }
}

private func draw(_ file: MprofFile) {
    _ = MemoryPlot(files: [file]).svg()
    _ = MemoryPlot(files: [file], options: .init(flame: true, slope: true)).html()
    // A window over the middle of the recording, and the overlay of several files (no brackets, one time zero each).
    var window: ClosedRange<Double>?
    if let first = file.samples.first?.wallClock, let last = file.samples.last?.wallClock, last > first {
        window = (last - first) * 0.25...(last - first) * 0.75
    }
    _ = MemoryPlot(files: [file], options: .init(window: window, slope: true)).terminal(columns: 100, color: true)
    _ = MemoryPlot(files: [file, file], options: .init(showsFunctions: false)).svg()
}
