import Glibc

/// Fixed-point formatting of `Double` values without Foundation's `String(format:)`.
public enum DecimalFormat {
    /// Formats `value` with exactly `decimals` digits after the point, rounded as C's `printf` and Python's
    /// `format` round: by the exact binary value, an exact tie to even (so `10.5625` with 3 decimals is `10.562`
    /// and `10.5635`, just below its tie in binary, is `10.563` — as memory_profiler prints them).
    ///
    /// Non-finite values print as `nan`, `inf` and `-inf`.
    public static func fixed(_ value: Double, decimals: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
        let decimals = Int32(max(0, min(decimals, 15)))
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 400) { buffer in
            let count = withVaList([decimals, value]) { arguments in
                vsnprintf(buffer.baseAddress, buffer.count, "%.*f", arguments)
            }
            let length = max(0, min(Int(count), buffer.count - 1))
            let text = String(decoding: UnsafeRawBufferPointer(start: buffer.baseAddress, count: length), as: UTF8.self)
            // printf keeps the sign of a negative value that rounds to zero: "-0.0". memory_profiler's own files
            // do too, but a report reads better without it.
            return text.hasPrefix("-") && text.dropFirst().allSatisfy { $0 == "0" || $0 == "." } ? String(text.dropFirst()) : text
        }
    }
}
