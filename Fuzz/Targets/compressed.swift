// The decompressor of finished captures, on its own: each input is a compressed capture's body, its first four
// bytes (little-endian) the length it claims, the magic put in front, so that every run is spent decompressing.
// Whatever comes out is replayed as a capture (see capture.swift). Seeds are real compressed captures (8–9 KB).
import MemoryPlot
import MemoryProfiler

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCompressed(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: data, count: size)
    guard size >= 4 else { return 0 }
    // At most 16 MiB claimed: the format allows 256 times the input, which the fuzzer's memory limit checks.
    let declared = (UInt64(input[0]) | UInt64(input[1]) << 8 | UInt64(input[2]) << 16 | UInt64(input[3]) << 24) & 0xFF_FFFF
    var bytes = Array("MPROFHZ1".utf8)
    var value = declared
    while value >= 0x80 {
        bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
        value >>= 7
    }
    bytes.append(UInt8(value))
    bytes += input[4...]
    if let capture = try? HeapCapture(bytes: bytes) { exercise(capture) }
    return 0
}
