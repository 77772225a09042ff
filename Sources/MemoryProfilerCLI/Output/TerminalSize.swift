import MemoryProfilerSystem

/// The terminal's width.
enum TerminalSize {
    /// The widest plot drawn: wider is unreadable and only costs memory.
    static let maximumColumns = 1000

    /// `COLUMNS` when it is a whole number from 1 up, else the kernel's idea, else 100; clamped to 40…1000.
    ///
    /// The height is fixed (18 rows): `LINES` is not read.
    static func columns(environment value: String?) -> Int {
        let requested = value.flatMap { text in text.utf8.allSatisfy { (48...57).contains($0) } ? Int(text) : nil }
        let columns = requested.flatMap { $0 > 0 ? $0 : nil } ?? StandardStreams.terminalColumns() ?? 100
        return min(max(columns, 40), maximumColumns)
    }
}
