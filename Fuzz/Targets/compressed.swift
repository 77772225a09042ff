// The decompressor of finished captures, on its own (see CaptureCompression). The first byte chooses what the rest
// is: even, the first pass's stream (literals and long repeats), which the harness compresses with zlib so that
// every run is spent on the expansion and the replay; odd, the zlib data itself. The next three bytes (little-endian,
// at most 16 MiB) are the length the capture claims. Whatever comes out is replayed as a capture (see capture.swift).
// Seeds are the streams of real compressed captures.
import MemoryPlot
import MemoryProfiler
import MemoryProfilerSystem

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCompressed(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: data, count: size)
    guard size >= 4 else { return 0 }
    let declared = UInt64(input[1]) | UInt64(input[2]) << 8 | UInt64(input[3]) << 16
    let body = UnsafeBufferPointer(rebasing: input[4...])
    let zlibData: [UInt8]
    let streamLength: Int
    if input[0] & 1 == 0 {
        guard let packed = Zlib.compress(body) else { return 0 }
        zlibData = packed
        streamLength = body.count
    } else {
        zlibData = Array(body)
        streamLength = Int(declared) + Int(input[0] >> 1)
    }
    var bytes = Array("MPROFHZ2".utf8)
    for value in [declared, UInt64(streamLength)] {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }
    bytes += zlibData
    if let capture = try? HeapCapture(bytes: bytes) { exercise(capture) }
    return 0
}
