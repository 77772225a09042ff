/// JSON literals, written by hand because the library does without Foundation.
public enum JSONText {
    /// A JSON string literal; `forHTML` also escapes `<`, so the text cannot close a `<script>` element.
    public static func string(_ text: String, forHTML: Bool = false) -> String {
        var output = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "<" where forHTML: output += "\\u003c"
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                output.unicodeScalars.append(scalar)
            }
        }
        return output + "\""
    }
}
