import MemoryProfiler
import MemoryProfilerSystem

/// Maps a range of data values onto a range of pixels, and picks round tick values for its axis.
struct LinearScale {
    var domain: ClosedRange<Double>
    var range: ClosedRange<Double>
    /// Pixels grow downward on a y axis: the domain's lower end maps to the range's upper end.
    var inverted = false

    func callAsFunction(_ value: Double) -> Double {
        let span = domain.upperBound - domain.lowerBound
        let fraction = span > 0 ? (value - domain.lowerBound) / span : 0.5
        let position = inverted ? 1 - fraction : fraction
        return range.lowerBound + position * (range.upperBound - range.lowerBound)
    }

    /// The data value at a pixel.
    func value(at pixel: Double) -> Double {
        let width = range.upperBound - range.lowerBound
        var fraction = width > 0 ? (pixel - range.lowerBound) / width : 0
        if inverted { fraction = 1 - fraction }
        return domain.lowerBound + fraction * (domain.upperBound - domain.lowerBound)
    }

    /// A pixel position as an `Int`, for indexing and loops: NaN is 0 and anything beyond ±10^9 is clamped, so
    /// no value from a file can make the conversion trap or a loop over pixels run for long.
    static func pixel(_ value: Double) -> Int {
        guard !value.isNaN else { return 0 }
        return Int(min(max(value, -1e9), 1e9))
    }

    /// About `count` ticks at multiples of 1, 2 or 5 times a power of ten, inside the domain.
    func ticks(count: Int = 6) -> [Double] {
        let step = Self.niceStep(span: domain.upperBound - domain.lowerBound, count: count)
        guard step > 0 else { return [domain.lowerBound] }
        var ticks: [Double] = []
        let first = (domain.lowerBound / step).rounded(.up)
        // Counted, not accumulated: a step below the spacing of doubles at the domain must not loop forever.
        for index in 0..<(count * 3) {
            let tick = (first + Double(index)) * step
            guard tick <= domain.upperBound + step * 1e-9 else { break }
            if let last = ticks.last, tick <= last { break }
            ticks.append(abs(tick) < step * 1e-9 ? 0 : tick)
        }
        return ticks
    }

    static func niceStep(span: Double, count: Int) -> Double {
        guard span > 0, span.isFinite, count > 0 else { return 0 }
        let raw = span / Double(count)
        var magnitude = 1.0
        while magnitude * 10 <= raw { magnitude *= 10 }
        while magnitude > raw { magnitude /= 10 }
        let fraction = raw / magnitude
        let nice: Double = fraction < 1.5 ? 1 : fraction < 3.5 ? 2 : fraction < 7.5 ? 5 : 10
        return nice * magnitude
    }

    /// A domain widened to round tick values at both ends.
    static func niceDomain(_ low: Double, _ high: Double, count: Int = 6) -> ClosedRange<Double> {
        var low = low
        var high = high
        if !(high > low) {
            let pad = max(abs(low) * 0.1, 1)
            low -= pad
            high += pad
        }
        guard low.isFinite, high.isFinite else { return 0...1 }
        let step = niceStep(span: high - low, count: count)
        guard step > 0 else { return low...high }
        let lower = (low / step).rounded(.down) * step
        let upper = (high / step).rounded(.up) * step
        return lower < upper ? lower...upper : low...high
    }

    /// A tick label: as many decimals as the tick step needs, no more.
    static func label(_ value: Double, step: Double) -> String {
        DecimalFormat.fixed(value, decimals: decimals(forStep: step))
    }

    /// The decimals that tell ticks `step` apart: 0 for 5, 1 for 0.5, 7 for 1e-7 (the steps of a 1 µs window);
    /// at most 9.
    static func decimals(forStep step: Double) -> Int {
        guard step.isFinite, step > 0 else { return 0 }
        var decimals = 0
        var scaled = step
        while decimals < 9 && abs(scaled - scaled.rounded()) > 1e-9 * max(1, abs(scaled)) {
            scaled *= 10
            decimals += 1
        }
        return decimals
    }
}

/// Approximate text widths for layout: average advance widths of a sans-serif face, in ems.
enum TextWidth {
    static func of(_ text: String, fontSize: Double) -> Double {
        var ems = 0.0
        for character in text {
            switch character {
            case "i", "l", "j", "I", "!", "|", ".", ",", ":", ";", "'", "[", "]", "(", ")", " ": ems += 0.32
            case "m", "w", "M", "W", "@": ems += 0.9
            case "A"..."Z": ems += 0.68
            case "0"..."9": ems += 0.56
            default: ems += 0.54
            }
        }
        return ems * fontSize
    }
}
