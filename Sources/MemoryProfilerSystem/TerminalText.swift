/// Text from files, the environment or other processes made safe to print on a terminal.
///
/// A `.dat` file, a command line or a process name can hold control characters: printed raw, an escape sequence
/// can set the terminal's title, move the cursor or clear the screen. Every such text passes through here
/// before it reaches standard output or standard error.
public enum TerminalText {
    /// `text` with every control character (C0, DEL and C1) and every invalid UTF-8 byte written visibly as
    /// `\x1B`, and every invisible format character (Unicode's category Cf: the byte order mark U+FEFF, zero-width
    /// spaces and joiners, bidirectional overrides) and line or paragraph separator as `\u{FEFF}`; a backslash is
    /// doubled, so the result reads back unambiguously. Tabs and line breaks are escaped too: the result is one
    /// line.
    ///
    /// For text shown as content rather than quoted (a source line, a plot's title), `keepingTabs` leaves tabs
    /// and `keepingBackslashes` leaves backslashes as they are: `print("a\n")` should read as written.
    public static func escaped(_ text: String, keepingTabs: Bool = false, keepingBackslashes: Bool = false) -> String {
        escaped(Array(text.utf8)[...], keepingTabs: keepingTabs, keepingBackslashes: keepingBackslashes)
    }

    /// The bytes of `text`, escaped as ``escaped(_:keepingTabs:keepingBackslashes:)-(String,_,_)``, invalid
    /// UTF-8 shown byte by byte.
    public static func escaped(
        _ bytes: ArraySlice<UInt8>, keepingTabs: Bool = false, keepingBackslashes: Bool = false
    ) -> String {
        var result = ""
        result.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let length = sequenceLength(bytes, at: index)
            if length == 0 {
                result += hex(bytes[index])
                index += 1
                continue
            }
            let scalarBytes = bytes[index..<index + length]
            let scalar = String(decoding: scalarBytes, as: UTF8.self).unicodeScalars.first
            if let scalar, isControl(scalar), !(keepingTabs && scalar == "\t") {
                result += scalar.value < 0x80 ? hex(UInt8(scalar.value)) : "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            } else if scalarBytes.first == UInt8(ascii: "\\") && !keepingBackslashes {
                result += "\\\\"
            } else {
                result += String(decoding: scalarBytes, as: UTF8.self)
            }
            index += length
        }
        return result
    }

    /// At most `limit` characters of `text`, escaped, with `…` and the full length in bytes when it was cut:
    /// for quoting a bad field or line in an error message.
    public static func quoted(_ text: some Collection<UInt8>, limit: Int = 40) -> String {
        let bytes = Array(text.prefix(limit))
        let shown = escaped(bytes[...])
        return text.count > limit ? "\(shown)… (\(text.count) bytes)" : shown
    }

    /// At most `limit` characters of `text`, escaped (see ``quoted(_:limit:)-(Collection<UInt8>,_)``).
    public static func quoted(_ text: String, limit: Int = 40) -> String {
        quoted(Array(text.utf8), limit: limit)
    }

    /// Whether `scalar` is escaped: it changes what the terminal does or shows nothing where it stands.
    ///
    /// Format characters (Cf) include the bidirectional controls (U+202A–U+202E, U+2066–U+2069) that make text
    /// read in another order than it is stored, and the invisible ones (U+200B–U+200F, U+2060–U+2064, U+FEFF)
    /// that make two different names print alike. Zero-width joiners in emoji sequences are escaped with them.
    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) { return true }
        guard scalar.value >= 0xAD else { return false }
        switch scalar.properties.generalCategory {
        case .format, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return "\\x" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0xF)])
    }

    /// The length of the valid UTF-8 sequence at `index`, or 0 when the byte there does not start one.
    private static func sequenceLength(_ bytes: ArraySlice<UInt8>, at index: Int) -> Int {
        let first = bytes[index]
        let length: Int
        let minimum: UInt32
        switch first {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: (length, minimum) = (2, 0x80)
        case 0xE0...0xEF: (length, minimum) = (3, 0x800)
        case 0xF0...0xF4: (length, minimum) = (4, 0x10000)
        default: return 0
        }
        guard index + length <= bytes.endIndex else { return 0 }
        var value = UInt32(first) & (0xFF >> (length + 1))
        for offset in 1..<length {
            let byte = bytes[index + offset]
            guard byte & 0xC0 == 0x80 else { return 0 }
            value = value << 6 | UInt32(byte & 0x3F)
        }
        guard value >= minimum, value <= 0x10FFFF, !(0xD800...0xDFFF).contains(value) else { return 0 }
        return length
    }
}
