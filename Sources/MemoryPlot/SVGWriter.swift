import MemoryProfilerSystem

/// Builds an SVG document as text: elements with attributes, escaped, one per line.
struct SVGWriter {
    private(set) var text = ""

    /// Starts a document of the given size in pixels.
    init(width: Double, height: Double, attributes: [(String, String)] = []) {
        text = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        var root: [(String, String)] = [
            ("xmlns", "http://www.w3.org/2000/svg"), ("width", Self.number(width)), ("height", Self.number(height)),
            ("viewBox", "0 0 \(Self.number(width)) \(Self.number(height))"),
            ("font-family", "DejaVu Sans, Helvetica, Arial, sans-serif"), ("font-size", "12"),
        ]
        root += attributes
        text += "<svg\(Self.attributes(root))>\n"
    }

    mutating func open(_ name: String, _ attributes: [(String, String)] = []) {
        text += "<\(name)\(Self.attributes(attributes))>\n"
    }

    mutating func close(_ name: String) {
        text += "</\(name)>\n"
    }

    mutating func element(_ name: String, _ attributes: [(String, String)], content: String? = nil) {
        if let content {
            text += "<\(name)\(Self.attributes(attributes))>\(Self.escaped(content))</\(name)>\n"
        } else {
            text += "<\(name)\(Self.attributes(attributes))/>\n"
        }
    }

    mutating func finish() -> String {
        text += "</svg>\n"
        return text
    }

    /// A number with at most two decimals and no trailing zeros: compact and exact enough for pixels.
    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let hundredths = (value * 100).rounded()
        if hundredths == hundredths.rounded(.towardZero), abs(hundredths) < 1e15 {
            let whole = Int(hundredths)
            let sign = whole < 0 ? "-" : ""
            let magnitude = abs(whole)
            let fraction = magnitude % 100
            if fraction == 0 { return "\(sign)\(magnitude / 100)" }
            let digits = fraction % 10 == 0 ? String(fraction / 10) : (fraction < 10 ? "0\(fraction)" : String(fraction))
            return "\(sign)\(magnitude / 100).\(digits)"
        }
        return String(value)
    }

    /// Text as XML character data or an attribute value, escaped by Unicode scalar (see `MarkupText`).
    static func escaped(_ text: String) -> String { MarkupText.escaped(text) }

    private static func attributes(_ attributes: [(String, String)]) -> String {
        attributes.map { " \($0.0)=\"\(escaped($0.1))\"" }.joined()
    }
}
