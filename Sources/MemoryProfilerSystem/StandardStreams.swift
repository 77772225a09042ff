import CMemoryProfilerShims
import Glibc

/// Writes to file descriptor 2 directly: no shared `FILE *` for strict concurrency to object to.
public enum StandardError {
    /// Writes `text`, ending it with `terminator` unless it already ends that way.
    public static func write(_ text: String, terminator: String = "\n") {
        var bytes = Array(text.utf8)
        if !terminator.isEmpty, !text.hasSuffix(terminator) { bytes += terminator.utf8 }
        _ = bytes.withUnsafeBytes { systemWrite(2, $0.baseAddress, $0.count) }
    }
}

private let systemWrite = write

/// The process's standard descriptors and its buffered standard output.
public enum StandardStreams {
    /// Opens `/dev/null` (`/dev/full` for standard output) on any of the descriptors 0–2 that is closed: call it
    /// before opening any file, so that a program started with `2>&-` cannot have its output file opened as
    /// standard error, and output to a closed standard output is an error rather than lost.
    ///
    /// - Returns: False when a closed descriptor could not be opened.
    @discardableResult
    public static func openMissing() -> Bool {
        cmp_open_standard_descriptors() == 0
    }

    /// Whether standard output is a terminal.
    public static var outputIsTerminal: Bool { isatty(1) != 0 }

    /// The terminal's width in columns, when standard output is one that says.
    public static func terminalColumns() -> Int? {
        var size = winsize()
        guard ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return nil }
        return Int(size.ws_col)
    }

    /// Flushes standard output (where `print` writes).
    ///
    /// - Throws: ``SystemError`` with the error of the first write that failed (`ENOSPC` on `/dev/full`, say).
    public static func flushOutput() throws(SystemError) {
        let code = cmp_flush_standard_output()
        guard code == 0 else {
            throw SystemError("cannot write to standard output", errno: code)
        }
    }
}
