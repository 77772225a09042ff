import SwiftSyntax

/// The lines and columns of the `#line` and `#column` expressions of a body, in source order.
///
/// Inside a macro expansion these resolve to the place of the attribute, even under `#sourceLocation`; the
/// expansion replaces them with the numbers of their own place.
struct MagicLiteralPositions {
    var values: [Int] = []

    init(in items: CodeBlockItemListSyntax, source: SourceText) {
        final class Collector: SyntaxVisitor {
            let source: SourceText
            var values: [Int] = []
            init(source: SourceText) {
                self.source = source
                super.init(viewMode: .sourceAccurate)
            }
            override func visit(_ node: MacroExpansionExprSyntax) -> SyntaxVisitorContinueKind {
                switch MagicLiteralPositions.kind(of: node) {
                case "line": values.append(source.line(of: node))
                case "column": values.append(source.column(of: node))
                default: break
                }
                return .visitChildren
            }
        }
        let collector = Collector(source: source)
        for item in items { collector.walk(item) }
        values = collector.values
    }

    /// "line" or "column" for a `#line` or `#column` without arguments; nil for any other macro expansion.
    static func kind(of node: MacroExpansionExprSyntax) -> String? {
        let name = node.macroName.text
        guard name == "line" || name == "column", node.arguments.isEmpty, node.trailingClosure == nil else {
            return nil
        }
        return name
    }
}

/// Replaces the k-th `#line` or `#column` of the instrumented body with the k-th collected number: the
/// instrumentation adds statements but never reorders or removes the user's expressions.
final class MagicLiteralRewriter: SyntaxRewriter {
    private let values: [Int]
    private var next = 0

    init(positions: MagicLiteralPositions) {
        values = positions.values
        super.init(viewMode: .sourceAccurate)
    }

    override func visit(_ node: MacroExpansionExprSyntax) -> ExprSyntax {
        guard MagicLiteralPositions.kind(of: node) != nil, next < values.count else { return super.visit(node) }
        let value = values[next]
        next += 1
        let literal = IntegerLiteralExprSyntax(literal: .integerLiteral(String(value)))
        return ExprSyntax(literal.with(\.leadingTrivia, node.leadingTrivia).with(\.trailingTrivia, node.trailingTrivia))
    }
}
