import MemoryProfilerSystem
import Testing

/// Escaping for markup and line formats works on Unicode scalars: a special character followed by a combining mark
/// is one `Character` with it, and `"\r\n"` is one `Character`.
@Suite struct MarkupTextTests {
    static let specials: [(Unicode.Scalar, String)] = [("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\"", "&quot;"), ("'", "&apos;")]
    static let marks: [Unicode.Scalar] = ["\u{301}", "\u{338}", "\u{20D2}", "\u{FE0F}", "\u{200D}"]

    @Test(arguments: marks)
    func aSpecialCharacterBeforeACombiningMarkIsStillEscaped(_ mark: Unicode.Scalar) {
        for (special, reference) in Self.specials {
            var text = "a"
            text.unicodeScalars.append(special)
            text.unicodeScalars.append(mark)
            let escaped = MarkupText.escaped(text)
            #expect(escaped == "a\(reference)\(Character(mark))", "\(Array(escaped.unicodeScalars))")
        }
    }

    @Test func controlCharactersBecomeReferencesOrTheReplacementCharacter() {
        #expect(MarkupText.escaped("a\tb\nc\r\nd") == "a&#9;b&#10;c&#13;&#10;d")
        for value in [0x0, 0x1, 0x8, 0xB, 0xC, 0x1B, 0x1F, 0x7F, 0x85, 0x9F, 0xFFFE, 0xFFFF] {
            let scalar = Unicode.Scalar(UInt32(value))!
            var text = "x"
            text.unicodeScalars.append(scalar)
            #expect(MarkupText.escaped(text) == "x\u{FFFD}", "U+\(String(value, radix: 16))")
        }
        // Text outside the controls passes as it is.
        #expect(MarkupText.escaped("Café ∑ 😀 \u{A0}") == "Café ∑ 😀 \u{A0}")
    }

    @Test func aLineFieldCannotEndItsLine() {
        let field = MarkupText.lineField("a;b\r\nc\u{85}d\u{2028}e\u{1B}[2Jf\u{301};", replacing: [";"], with: ":")
        #expect(field == "a:b\u{FFFD}\u{FFFD}c\u{FFFD}d\u{FFFD}e\u{FFFD}[2Jf\u{301}:")
        #expect(!field.unicodeScalars.contains { $0.properties.isWhitespace && $0 != " " })
        // A bidirectional override would make the line read in another order.
        #expect(MarkupText.lineField("main\u{202E}evil\u{200B}") == "main\u{FFFD}evil\u{FFFD}")
    }
}
