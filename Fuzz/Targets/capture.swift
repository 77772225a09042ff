// The heap capture reader, as `mprof heap` uses it: read, replay, name (from the names stored in the capture only:
// no symbolizer runs), every view, the exports and the flame graphs.
//
// Each input is read twice, through the library's two entry points: from a file (in chunks, up to the end of its
// records, within the reading budget) and from bytes in memory. Both must agree: the same totals, or both refuse.
// Seeds are real captures of the heap workload, raw as the hook leaves them and compressed as mprof finishes them
// (8–22 KB each, so mutations reach past the first 8 KB). Collapsed stacks must stay one stack a line with a value.
import MemoryPlot
import MemoryProfiler

private let scratch = ScratchFile()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCapture(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    scratch.write(bytes)
    let fromFile = Result { () throws(MemoryError) in try HeapCapture(path: scratch.path) }
    let fromBytes = Result { () throws(MemoryError) in try HeapCapture(bytes: Array(bytes)) }
    switch (fromFile, fromBytes) {
    case (.success(let a), .success(let b)):
        if a.summary != b.summary { fatalError("HeapCapture(path:) and HeapCapture(bytes:) replay differently") }
    case (.failure, .failure):
        return 0
    case (.success, .failure(let error)):
        fatalError("only HeapCapture(bytes:) fails: \(error)")
    case (.failure(let error), .success):
        fatalError("only HeapCapture(path:) fails: \(error)")
    }
    guard case .success(let capture) = fromBytes else { return 0 }
    exercise(capture)
    return 0
}
