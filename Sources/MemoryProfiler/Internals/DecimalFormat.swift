/// Fixed-point formatting of `Double` values without Foundation's `String(format:)`.
package enum DecimalFormat {
    /// Formats `value` with exactly `decimals` digits after the point, rounding half away from zero.
    ///
    /// Exact for magnitudes below 2^53 / 10^decimals, which covers MiB values and Unix times with 4 decimals.
    /// Non-finite values print as `nan`, `inf` and `-inf`.
    package static func fixed(_ value: Double, decimals: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
        let decimals = max(0, min(decimals, 15))
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded(.toNearestOrAwayFromZero)
        guard scaled < 9.0e18 else { return String(value) }
        let units = UInt64(scaled)
        let divisor = UInt64(scale)
        let whole = units / divisor
        let fraction = units % divisor
        let sign = value < 0 && units != 0 ? "-" : ""
        guard decimals > 0 else { return "\(sign)\(whole)" }
        let digits = String(fraction)
        let padding = String(repeating: "0", count: decimals - digits.count)
        return "\(sign)\(whole).\(padding)\(digits)"
    }
}
