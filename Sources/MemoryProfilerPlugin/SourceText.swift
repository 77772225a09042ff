import SwiftSyntax
import SwiftSyntaxMacros

/// The profiled declaration as the report shows it: its file, first line, text, and the line, column and
/// indentation of any node in it.
struct SourceText {
    /// The file's path as the compiler knows it (what `#filePath` says).
    let filePath: String
    /// The line of the declaration's first token, usually the `@MemoryProfiled` attribute.
    let firstLine: Int
    /// The declaration's lines, from its first token to its last, with the first line's indentation restored.
    let text: String

    private let baseOffset: Int
    private let lineStartOffsets: [Int]
    private let firstLineIndentation: Int

    init(of node: some SyntaxProtocol, in context: some MacroExpansionContext, indentationFromLastLine: Bool = false) {
        let location = context.location(of: node, at: .afterLeadingTrivia, filePathMode: .filePath)
        filePath = location?.file.as(StringLiteralExprSyntax.self)?.representedLiteralValue ?? "<unknown>"
        firstLine = location.flatMap { Self.integer(line: $0) } ?? 1
        firstLineIndentation = max(0, (location.flatMap { Self.integer(column: $0) } ?? 1) - 1)

        let trimmed = node.trimmedDescription
        if indentationFromLastLine {
            let lastLine = trimmed.split(separator: "\n", omittingEmptySubsequences: false).last ?? ""
            text = String(lastLine.prefix { $0 == " " || $0 == "\t" }) + trimmed
        } else {
            text = String(repeating: " ", count: firstLineIndentation) + trimmed
        }
        baseOffset = node.positionAfterSkippingLeadingTrivia.utf8Offset
        var starts = [0]
        var previous: UInt8 = 0
        for (offset, byte) in trimmed.utf8.enumerated() {
            if byte == UInt8(ascii: "\n") {
                starts.append(offset + 1)
            } else if previous == UInt8(ascii: "\r") {
                starts.append(offset)
            }
            previous = byte
        }
        lineStartOffsets = starts
    }

    /// The line on which `node`'s first token (after comments and blank space) stands.
    func line(of node: some SyntaxProtocol) -> Int {
        firstLine + lineIndex(of: node).index
    }

    /// The column (1 for the first, counting UTF-8 bytes) of `node`'s first token.
    func column(of node: some SyntaxProtocol) -> Int {
        let (index, offset) = lineIndex(of: node)
        return offset - lineStartOffsets[index] + 1 + (index == 0 ? firstLineIndentation : 0)
    }

    /// A newline and the statement's original indentation: with a `#sourceLocation` directive above, its column
    /// stays true.
    func indentation(of item: CodeBlockItemSyntax) -> Trivia {
        .newline + .spaces(column(of: item) - 1)
    }

    private func lineIndex(of node: some SyntaxProtocol) -> (index: Int, offset: Int) {
        let offset = node.positionAfterSkippingLeadingTrivia.utf8Offset - baseOffset
        var low = 0
        var high = lineStartOffsets.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if lineStartOffsets[middle] <= offset { low = middle } else { high = middle - 1 }
        }
        return (low, offset)
    }

    private static func integer(line location: AbstractSourceLocation) -> Int? {
        location.line.as(IntegerLiteralExprSyntax.self).flatMap { Int($0.literal.text) }
    }

    private static func integer(column location: AbstractSourceLocation) -> Int? {
        location.column.as(IntegerLiteralExprSyntax.self).flatMap { Int($0.literal.text) }
    }
}
