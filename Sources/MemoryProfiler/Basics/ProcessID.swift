internal import MemoryProfilerSystem

/// A process to measure: the current process or any process identifier the kernel lets us read.
///
/// ```swift
/// let me = ProcessID.current
/// let server = ProcessID(4242)
/// ```
public struct ProcessID: RawRepresentable, Hashable, Comparable, Sendable, Codable {
    /// The process identifier as the kernel knows it.
    public var rawValue: Int32

    /// Creates a process identifier from the kernel's number.
    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// Creates a process identifier from the kernel's number.
    public init(_ rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// The process this code runs in.
    ///
    /// The corresponding C function is `getpid`.
    public static var current: ProcessID { ProcessID(ProcessTable.currentProcess) }

    /// Whether this is the process this code runs in.
    public var isCurrent: Bool { rawValue == ProcessTable.currentProcess }

    public static func < (lhs: ProcessID, rhs: ProcessID) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        self.rawValue = try decoder.singleValueContainer().decode(Int32.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

extension ProcessID: CustomStringConvertible {
    /// The bare number, as `ps` prints it.
    public var description: String { String(rawValue) }
}
