import MemoryProfiler
internal import MemoryProfilerSystem

/// How every report writes a quantity: the one place a byte count, a count, a share or a duration becomes text.
public enum Quantity {
    /// A byte count as a person reads it: `512 B`, `12.5 KiB`, `41.2 MiB`, `1.30 GiB`.
    public static func bytes(_ value: Int) -> String { MemorySize(bytes: value).readable }

    /// A count with its thousands separated: `1,231,034`.
    public static func count(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var result = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { result += "," }
            result.append(digit)
        }
        return (value < 0 ? "-" : "") + result
    }

    /// Seconds to the millisecond: `1.234 s`.
    public static func seconds(_ value: Double) -> String { DecimalFormat.fixed(value, decimals: 3) + " s" }

    /// `part` as a percentage of `whole`, to a tenth: `12.5%` (`0.0%` of nothing).
    public static func share(_ part: Int, of whole: Int) -> String {
        DecimalFormat.fixed(whole > 0 ? Double(part) / Double(whole) * 100 : 0, decimals: 1) + "%"
    }
}
