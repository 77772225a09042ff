/// The fields of capture records as mprof writes them after a run (names, conditions): unsigned LEB128 numbers and
/// length-prefixed strings, as the hook writes its own (see <doc:HeapCaptureFormat>).
enum CaptureRecordEncoding {
    /// Appends `value` as an unsigned LEB128 number.
    static func appendNumber(_ value: UInt64, to bytes: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    /// Appends `text` as a string field: its length, then at most 4,096 of its UTF-8 bytes (what the reader takes).
    static func appendString(_ text: String, to bytes: inout [UInt8]) {
        let utf8 = Array(text.utf8.prefix(4096))
        appendNumber(UInt64(utf8.count), to: &bytes)
        bytes.append(contentsOf: utf8)
    }
}
