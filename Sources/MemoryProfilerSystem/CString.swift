private let emptyCString: StaticString = ""

/// Bytes as a NUL-terminated C string, for system calls on names that need not be UTF-8.
public enum CString {
    /// Calls `body` with `bytes` followed by a NUL byte (cut at the first NUL of `bytes`, as C would read it).
    public static func with<Result>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) -> Result) -> Result {
        let terminated = Array(bytes.prefix { $0 != 0 }) + [0]
        return terminated.withUnsafeBytes { buffer in
            // A buffer of at least one byte always has an address; the empty string stands in otherwise.
            let start = buffer.baseAddress ?? UnsafeRawPointer(emptyCString.utf8Start)
            return body(start.assumingMemoryBound(to: CChar.self))
        }
    }
}
