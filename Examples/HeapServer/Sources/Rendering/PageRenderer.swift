/// Renders the body of a page: a fixed-size block of bytes that says which page it is.
public struct PageRenderer: Sendable {
    /// The size of every page body, in bytes.
    public let pageSize: Int

    public init(pageSize: Int) {
        self.pageSize = pageSize
    }

    /// The body of page `id`: a header line, then filler up to `pageSize` bytes. The header is built as a `String`
    /// first, a temporary freed before the call returns.
    public func render(id: Int) -> [UInt8] {
        let header = "<html><!-- page \(id) of heap-server -->"
        var body = [UInt8](repeating: UInt8(ascii: "."), count: pageSize)
        let headerBytes = Array(header.utf8.prefix(pageSize))
        body.replaceSubrange(0..<headerBytes.count, with: headerBytes)
        return body
    }

    /// A small JSON document, built from temporaries and returned as bytes.
    public func renderStatistics(_ fields: [(String, Int)]) -> [UInt8] {
        let members = fields.map { "\"\($0.0)\":\($0.1)" }
        return Array("{\(members.joined(separator: ","))}\n".utf8)
    }
}
