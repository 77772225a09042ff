/// Allocation-free parsing of the text that `/proc` files and `ps` print.
public enum ProcText {
    /// The `index`-th whitespace-separated unsigned number in `text` (0-based), or nil.
    public static func field(_ index: Int, in text: UnsafeRawBufferPointer) -> Int? {
        var current = -1
        var value = 0
        var inNumber = false
        for byte in text {
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                if !inNumber {
                    inNumber = true
                    current += 1
                    value = 0
                }
                // A number too large for an Int is no reading: it fails rather than wrapping to a wrong one.
                let (times10, overflow) = value.multipliedReportingOverflow(by: 10)
                let (next, overflow2) = times10.addingReportingOverflow(Int(byte &- UInt8(ascii: "0")))
                guard !overflow && !overflow2 else { return nil }
                value = next
            } else {
                if inNumber && current == index { return value }
                inNumber = false
                if byte != UInt8(ascii: " ") && byte != UInt8(ascii: "\t") && byte != UInt8(ascii: "\n") {
                    return nil
                }
            }
        }
        return inNumber && current == index ? value : nil
    }

    /// The number after `key` on the line that starts with `key` (which includes its colon), e.g. the `1724`
    /// of `VmHWM:\t    1724 kB`; nil when no line starts with `key`.
    public static func value(ofKey key: StaticString, in text: UnsafeRawBufferPointer) -> Int? {
        let keyLength = key.utf8CodeUnitCount
        let keyBytes = UnsafeRawBufferPointer(start: key.utf8Start, count: keyLength)
        var lineStart = 0
        let count = text.count
        while lineStart + keyLength <= count {
            if text[lineStart] == keyBytes[0] && matches(keyBytes, in: text, at: lineStart) {
                var index = lineStart + keyLength
                while index < count && (text[index] == UInt8(ascii: " ") || text[index] == UInt8(ascii: "\t")) {
                    index += 1
                }
                var value = 0
                var digits = 0
                while index < count, text[index] >= UInt8(ascii: "0"), text[index] <= UInt8(ascii: "9") {
                    value = value &* 10 &+ Int(text[index] &- UInt8(ascii: "0"))
                    index += 1
                    digits += 1
                }
                // 18 digits always fit an Int; more would have wrapped.
                return digits > 0 && digits <= 18 ? value : nil
            }
            guard let newline = nextNewline(in: text, from: lineStart) else { return nil }
            lineStart = newline + 1
        }
        return nil
    }

    /// Whether a line of `text` starts with `prefix`.
    public static func hasLine(startingWith prefix: StaticString, in text: UnsafeRawBufferPointer) -> Bool {
        let prefixBytes = UnsafeRawBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount)
        var lineStart = 0
        while lineStart + prefixBytes.count <= text.count {
            if matches(prefixBytes, in: text, at: lineStart) { return true }
            guard let newline = nextNewline(in: text, from: lineStart) else { return false }
            lineStart = newline + 1
        }
        return false
    }

    private static func matches(_ key: UnsafeRawBufferPointer, in text: UnsafeRawBufferPointer, at offset: Int) -> Bool {
        for index in 0..<key.count where text[offset + index] != key[index] {
            return false
        }
        return true
    }

    private static func nextNewline(in text: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var index = start
        while index < text.count {
            if text[index] == UInt8(ascii: "\n") { return index }
            index += 1
        }
        return nil
    }
}
