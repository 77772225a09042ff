/// The hook's condition records ('C': kind, value, text): what a capture's numbers need to be read right. See
/// capture_format.h (the hook's) and <doc:HeapCaptureFormat>.
enum HeapCaptureCondition {
    static let leakScanFailed: UInt64 = 1
    static let stoppedEarly: UInt64 = 2
    static let unrecordedSignalEvents: UInt64 = 3
    static let residentPeakBeforeExit: UInt64 = 4
    /// v milliseconds since the start: when the hook began its exit work.
    static let exitWorkStarted: UInt64 = 5
    /// v bytes: the hook's own tables resident at the program's end (counted in its resident set).
    static let hookTablesAtExit: UInt64 = 6

    static func apply(kind: UInt64, value: UInt64, text: String, to summary: inout HeapCapture.Summary) {
        let shown = String(text.prefix(500))
        let withError = value > 0 && value < 4096 ? "\(shown) (errno \(value))" : shown
        switch kind {
        case leakScanFailed: summary.leakScanFailure = withError.isEmpty ? "the scan failed" : withError
        case stoppedEarly: summary.stoppedEarlyBecause = withError.isEmpty ? "the capture stopped early" : withError
        case unrecordedSignalEvents: summary.unrecordedSignalEvents = Int(clamping: value)
        case residentPeakBeforeExit: summary.residentPeakBeforeExit = value > 0 && value < 1 << 56 ? Int(value) : nil
        case exitWorkStarted: summary.exitWorkStarted = value < 1 << 40 ? Double(value) / 1000 : nil
        case hookTablesAtExit: summary.hookTablesAtExit = value < 1 << 56 ? Int(value) : nil
        default: break
        }
    }

    /// A condition record ('C': v kind, v value, string text), as the hook writes it.
    static func record(kind: UInt64, value: UInt64, text: String) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(ascii: "C")]
        LEB128.append(kind, to: &bytes)
        LEB128.append(value, to: &bytes)
        LEB128.appendString(text, to: &bytes)
        return bytes
    }

    /// A scan that failed may have sent a part of its answer before: it is not one.
    static func forgetScan(of capture: inout HeapCapture) {
        capture.summary.reachabilityScanned = false
        capture.summary.blocksLeaked = 0
        capture.summary.bytesLeaked = 0
        capture.unreachable = []
    }
}

extension HeapCapture {
    /// What the hook recorded about the capture at `path` — its conditions (``Summary/leakScanFailure``,
    /// ``Summary/stoppedEarlyBecause``, ``Summary/unrecordedSignalEvents``, ``Summary/residentPeakBeforeExit``) and
    /// whether it finished — read quickly, without replaying its events: the other totals are left at 0. For
    /// `mprof run --heap`, right after the program ends.
    ///
    /// - Throws: ``MemoryError`` as ``init(path:)``.
    public static func conditions(at path: String) throws(MemoryError) -> Summary {
        try HeapCapture(bytes: try readBytes(path), name: path, namesOnly: true).summary
    }
}
