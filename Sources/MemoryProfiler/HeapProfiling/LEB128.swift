/// Unsigned LEB128, the one number encoding of every binary format here: the hook's records and mprof's (see
/// <doc:HeapCaptureFormat>), the names section, the compressed form's lengths and repeats, and pprof's protobuf
/// varints. Seven bits a byte, least significant first; a byte's top bit says another follows.
enum LEB128 {
    /// Why a number could not be read.
    enum Failure: Error {
        /// The bytes end inside the number.
        case truncated
        /// It does not fit in 64 bits (or is longer than ten bytes).
        case tooLarge
    }

    /// Appends `value`.
    @inline(__always)
    static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    /// Reads the number at `index` and moves `index` past it; on a failure `index` is left past the bytes read.
    @inline(__always)
    static func read(_ bytes: UnsafeBufferPointer<UInt8>, at index: inout Int) throws(Failure) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            // The tenth byte holds the 64th bit alone.
            if shift == 63 && byte > 1 { throw .tooLarge }
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
        throw .truncated
    }

    /// Appends `text` as a capture's string field: its length, then at most 4,096 of its UTF-8 bytes (what the
    /// reader takes).
    static func appendString(_ text: String, to bytes: inout [UInt8]) {
        let utf8 = Array(text.utf8.prefix(4096))
        append(UInt64(utf8.count), to: &bytes)
        bytes.append(contentsOf: utf8)
    }
}
