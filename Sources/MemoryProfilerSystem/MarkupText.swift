/// Text from files, captures or other processes made safe for XML, SVG and HTML, and for line formats.
///
/// Everything here works on Unicode scalars, never on `Character`s: a grapheme cluster can hide a markup
/// character behind a combining mark (`"` followed by U+0301 is one `Character` that is not equal to `"`), and
/// `"\r\n"` is one `Character` too. A function name from a `.dat` file or a path from DWARF reaches a page only
/// through these functions.
public enum MarkupText {
    /// `text` as XML character data or an attribute value (single- or double-quoted): `&`, `<`, `>`, `"` and `'`
    /// become entity references, tab, line feed and carriage return become character references (so an
    /// attribute keeps them instead of normalising them to blanks), and every other control character (C0, DEL,
    /// C1) and the noncharacters U+FFFE and U+FFFF, which XML 1.0 does not allow, become U+FFFD.
    ///
    /// The result is well-formed XML 1.0 text and safe in HTML content and quoted HTML attributes.
    public static func escaped(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&apos;"
            case "\t": result += "&#9;"
            case "\n": result += "&#10;"
            case "\r": result += "&#13;"
            default:
                result.unicodeScalars.append(isForbidden(scalar) ? replacement : scalar)
            }
        }
        return result
    }

    /// `text` as one field of a line format (collapsed stacks, a `.dat` record): `separator` scalars become
    /// `separatorReplacement`, and every scalar that can end a line or that a terminal acts on (C0, DEL, C1,
    /// U+2028, U+2029) becomes U+FFFD, so the field can neither end its line nor add one; so do invisible format
    /// characters (Unicode's Cf: bidirectional overrides, zero-width spaces), which make a line read as another.
    public static func lineField(
        _ text: String, replacing separators: Set<Unicode.Scalar> = [], with separatorReplacement: Unicode.Scalar = "_"
    ) -> String {
        var result = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if separators.contains(scalar) {
                result.append(separatorReplacement)
            } else if isControl(scalar) || scalar == "\u{2028}" || scalar == "\u{2029}"
                || (scalar.value >= 0xAD && scalar.properties.generalCategory == .format)
            {
                result.append(replacement)
            } else {
                result.append(scalar)
            }
        }
        return String(result)
    }

    /// U+FFFD REPLACEMENT CHARACTER, which stands for what cannot be written.
    public static let replacement: Unicode.Scalar = "\u{FFFD}"

    /// C0, DEL and C1 controls.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    /// What XML 1.0 does not allow even as a reference (C0 but tab, line feed, carriage return; U+FFFE, U+FFFF),
    /// and DEL and C1, which it discourages and which a terminal acts on.
    private static func isForbidden(_ scalar: Unicode.Scalar) -> Bool {
        isControl(scalar) || scalar.value == 0xFFFE || scalar.value == 0xFFFF
    }
}
