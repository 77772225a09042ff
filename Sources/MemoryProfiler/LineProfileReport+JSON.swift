extension LineProfileReport {
    /// The report as JSON, in the shape its `Codable` conformance reads: memory in bytes, `null` where a line
    /// has no number. The library writes it without Foundation; any JSON decoder reads it back.
    public func json() -> String {
        var output = "{\n  \"functions\" : ["
        for (index, function) in functions.enumerated() {
            output += index == 0 ? "\n" : ",\n"
            output += "    {\n"
            output += "      \"name\" : \(JSONText.string(function.name)),\n"
            output += "      \"file\" : \(JSONText.string(function.file)),\n"
            output += "      \"calls\" : \(function.calls),\n"
            output += "      \"precision\" : \(function.precision.map(String.init) ?? "null"),\n"
            output += "      \"lines\" : ["
            for (lineIndex, line) in function.lines.enumerated() {
                output += lineIndex == 0 ? "\n" : ",\n"
                output += "        { \"number\" : \(line.number), \"occurrences\" : \(line.occurrences), "
                output += "\"memoryUsage\" : \(JSONText.bytes(line.memoryUsage)), "
                output += "\"increment\" : \(JSONText.bytes(line.increment)), "
                output += "\"peak\" : \(JSONText.bytes(line.peak)), "
                output += "\"heapIncrement\" : \(JSONText.bytes(line.heapIncrement)), "
                output += "\"contents\" : \(JSONText.string(line.contents)) }"
            }
            output += "\n      ]\n    }"
        }
        output += "\n  ],\n  \"notes\" : ["
        output += notes.map { JSONText.string($0) }.joined(separator: ", ")
        output += "]\n}\n"
        return output
    }
}

/// JSON literals, written by hand because the library does without Foundation.
package enum JSONText {
    static func bytes(_ size: MemorySize?) -> String {
        size.map { String($0.bytes) } ?? "null"
    }

    /// A JSON string literal; `forHTML` also escapes `<`, so the text cannot close a `<script>` element.
    package static func string(_ text: String, forHTML: Bool = false) -> String {
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
