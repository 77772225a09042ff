import Glibc

/// The C library's text for an error number.
package enum ErrnoText {
    package static func describe(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }
}
