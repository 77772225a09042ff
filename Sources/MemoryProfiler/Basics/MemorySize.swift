internal import MemoryProfilerSystem

/// An amount of memory, stored as a whole number of bytes.
///
/// Readers return `MemorySize` values; differences between two readings (an increment) can be negative.
/// The binary views use powers of two, as memory_profiler does: one mebibyte (MiB) is 2^20 bytes.
///
/// ```swift
/// let size = MemorySize(mebibytes: 200)
/// print(size.bytes)      // 209715200
/// print(size)            // 200.0 MiB
/// ```
public struct MemorySize: Hashable, Comparable, Sendable, Codable {
    /// The amount in bytes.
    public var bytes: Int

    /// Creates an amount from a number of bytes.
    @inlinable
    public init(bytes: Int) {
        self.bytes = bytes
    }

    /// Creates an amount from a number of kibibytes (2^10 bytes), the unit of `/proc` files and `ps`.
    @inlinable
    public init(kibibytes: Int) {
        self.bytes = kibibytes &* 1024
    }

    /// Creates an amount from a number of mebibytes (2^20 bytes), rounded to the nearest byte.
    ///
    /// Amounts beyond what `Int` bytes can hold (±8 EiB) are clamped to its bounds and NaN gives zero, so no
    /// number read from a file can make this trap.
    public init(mebibytes: Double) {
        let bytes = (mebibytes * 1_048_576).rounded()
        if bytes.isNaN {
            self.bytes = 0
        } else if bytes >= 0x1p63 {
            self.bytes = .max
        } else if bytes < -0x1p63 {
            self.bytes = .min
        } else {
            self.bytes = Int(bytes)
        }
    }

    /// The amount in kibibytes (2^10 bytes).
    @inlinable
    public var kibibytes: Double { Double(bytes) / 1024 }

    /// The amount in mebibytes (2^20 bytes), the unit of memory_profiler's reports and `.dat` files.
    @inlinable
    public var mebibytes: Double { Double(bytes) / 1_048_576 }

    /// No memory at all.
    public static let zero = MemorySize(bytes: 0)

    /// An amount of `count` bytes: `.bytes(4096)`.
    @inlinable
    public static func bytes(_ count: Int) -> MemorySize { MemorySize(bytes: count) }

    /// An amount in kibibytes (2^10 bytes), rounded to the nearest byte: `.kibibytes(64)`.
    public static func kibibytes(_ amount: Double) -> MemorySize { MemorySize(mebibytes: amount / 1024) }

    /// An amount in mebibytes (2^20 bytes), rounded to the nearest byte: `.mebibytes(200)`.
    public static func mebibytes(_ amount: Double) -> MemorySize { MemorySize(mebibytes: amount) }

    /// An amount in gibibytes (2^30 bytes), rounded to the nearest byte: `.gibibytes(1.5)`.
    public static func gibibytes(_ amount: Double) -> MemorySize { MemorySize(mebibytes: amount * 1024) }

    @inlinable
    public static func < (lhs: MemorySize, rhs: MemorySize) -> Bool { lhs.bytes < rhs.bytes }

    /// The sum of two amounts.
    @inlinable
    public static func + (lhs: MemorySize, rhs: MemorySize) -> MemorySize { MemorySize(bytes: lhs.bytes + rhs.bytes) }

    /// The difference of two amounts; negative when memory was given back.
    @inlinable
    public static func - (lhs: MemorySize, rhs: MemorySize) -> MemorySize { MemorySize(bytes: lhs.bytes - rhs.bytes) }

    /// Adds an amount in place.
    @inlinable
    public static func += (lhs: inout MemorySize, rhs: MemorySize) { lhs.bytes += rhs.bytes }

    /// Subtracts an amount in place.
    @inlinable
    public static func -= (lhs: inout MemorySize, rhs: MemorySize) { lhs.bytes -= rhs.bytes }

    // Encoded as a bare number of bytes, so JSON stays plain: `{"rss": 1695744}`.
    public init(from decoder: any Decoder) throws {
        self.bytes = try decoder.singleValueContainer().decode(Int.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(bytes)
    }
}

extension MemorySize: CustomStringConvertible {
    /// The amount in MiB with one decimal, as memory_profiler's line report prints it: `200.0 MiB`.
    public var description: String { formatted(precision: 1) }

    /// The amount in MiB with the given number of decimals, followed by ` MiB`.
    ///
    /// - Parameter precision: Digits after the decimal point.
    /// - Returns: For example `250.445 MiB` for a precision of 3.
    public func formatted(precision: Int) -> String {
        "\(DecimalFormat.fixed(mebibytes, decimals: precision)) MiB"
    }

    /// The amount as a person reads it, in the largest binary unit that keeps it at 1 or more: `512 B`,
    /// `12.5 KiB`, `41.2 MiB`, `1.30 GiB`. Every report writes bytes this way.
    public var readable: String {
        let value = Double(bytes)
        if bytes.magnitude < 1024 { return "\(bytes) B" }
        if abs(value) < 1_048_576 { return DecimalFormat.fixed(value / 1024, decimals: 1) + " KiB" }
        if abs(value) < 1_073_741_824 { return DecimalFormat.fixed(value / 1_048_576, decimals: 1) + " MiB" }
        return DecimalFormat.fixed(value / 1_073_741_824, decimals: 2) + " GiB"
    }
}
