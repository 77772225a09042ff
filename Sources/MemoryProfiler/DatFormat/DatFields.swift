/// The fields of one line, separated by blanks or tabs, any number of them.
struct DatFields {
    private let line: UnsafeRawBufferPointer
    private var position = 0

    init(_ line: UnsafeRawBufferPointer) {
        self.line = line
    }

    /// A blank or a tab. memory_profiler writes one blank; files edited by hand or by other tools have tabs
    /// and runs of them, which mean the same.
    @inline(__always)
    static func isSeparator(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }

    mutating func next() -> UnsafeRawBufferPointer? {
        while position < line.count && Self.isSeparator(line[position]) { position += 1 }
        guard position < line.count else { return nil }
        let start = position
        while position < line.count && !Self.isSeparator(line[position]) { position += 1 }
        return UnsafeRawBufferPointer(rebasing: line[start..<position])
    }

    /// Everything after the current field and one separator (a `CMDLINE`'s arguments, blanks included).
    var rest: UnsafeRawBufferPointer? {
        let start = position < line.count ? position + 1 : line.count
        return UnsafeRawBufferPointer(rebasing: line[start...])
    }
}

/// Numbers as `.dat` files write them: the decimal grammar of Python's `float()` without its words and
/// underscores, `[+-]digits[.digits][(e|E)[+-]digits]` (either side of the point may be empty, not both).
/// `nan`, `inf`, hexadecimal and `1_0` are not numbers here.
enum DatNumber {
    /// The value of `field`, or nil when it is not a decimal number. Overflow gives infinity (out of any range).
    static func parse(_ field: UnsafeRawBufferPointer) -> Double? {
        let count = field.count
        var index = 0
        var negative = false
        if index < count && (field[index] == UInt8(ascii: "-") || field[index] == UInt8(ascii: "+")) {
            negative = field[index] == UInt8(ascii: "-")
            index += 1
        }
        var whole: UInt64 = 0
        let wholeStart = index
        while index < count, let digit = Self.digit(field[index]) {
            whole = whole &* 10 &+ UInt64(digit)
            index += 1
        }
        let wholeDigits = index - wholeStart
        var fraction: UInt64 = 0
        var scale = 1.0
        var fractionDigits = 0
        if index < count && field[index] == UInt8(ascii: ".") {
            index += 1
            while index < count, let digit = Self.digit(field[index]) {
                fraction = fraction &* 10 &+ UInt64(digit)
                scale *= 10
                fractionDigits += 1
                index += 1
            }
        }
        guard wholeDigits + fractionDigits > 0 else { return nil }
        if index == count && wholeDigits <= 18 && fractionDigits <= 15 {
            // The common case, exact enough for 6 decimals and much faster than strtod.
            let value = Double(whole) + Double(fraction) / scale
            return negative ? -value : value
        }
        if index < count && (field[index] == UInt8(ascii: "e") || field[index] == UInt8(ascii: "E")) {
            index += 1
            if index < count && (field[index] == UInt8(ascii: "-") || field[index] == UInt8(ascii: "+")) { index += 1 }
            let exponentStart = index
            while index < count && Self.digit(field[index]) != nil { index += 1 }
            guard index > exponentStart else { return nil }
        }
        guard index == count else { return nil }
        // Checked above to be plain decimal, which Double(_:) reads exactly as strtod does.
        return Double(String(decoding: field, as: UTF8.self))
    }

    /// The value of a field of decimal digits only, or nil when it has anything else or exceeds `maximum`.
    static func wholeNumber(_ field: UnsafeRawBufferPointer, upTo maximum: Int) -> Int? {
        guard !field.isEmpty else { return nil }
        var value = 0
        for byte in field {
            guard let digit = Self.digit(byte) else { return nil }
            let (times10, overflow) = value.multipliedReportingOverflow(by: 10)
            guard !overflow, times10 <= maximum - Int(digit) else { return nil }
            value = times10 + Int(digit)
        }
        return value
    }

    /// The value of a field written as Python's `int()` reads a plain integer: an optional `+` or `-`, then
    /// decimal digits (no underscores, no other scripts' digits). Nil when the field is anything else; a value
    /// beyond `Int` is `Int.max` or `Int.min`, out of any range the caller checks.
    static func integer(_ field: UnsafeRawBufferPointer) -> Int? {
        var digits = field
        var negative = false
        if let sign = field.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
            negative = sign == UInt8(ascii: "-")
            digits = UnsafeRawBufferPointer(rebasing: field[(field.startIndex + 1)...])
        }
        guard !digits.isEmpty, digits.allSatisfy({ Self.digit($0) != nil }) else { return nil }
        guard let magnitude = wholeNumber(digits, upTo: Int.max) else { return negative ? Int.min : Int.max }
        return negative ? -magnitude : magnitude
    }

    private static func digit(_ byte: UInt8) -> UInt8? {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") ? byte - UInt8(ascii: "0") : nil
    }
}
