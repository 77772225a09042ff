import SwiftDiagnostics
import SwiftSyntax
import SwiftSyntaxMacros

/// `#memoryProfiled("name") { ... }`: profiles the statements of one closure line by line, for a block inside
/// a function or a closure the attached macro cannot reach.
public struct MemoryProfiledBlockMacro: ExpressionMacro {
    /// The user's statements keep their exact spelling and columns: no reformatting of the expansion.
    public static var formatMode: FormatMode { .disabled }

    public static func expansion(
        of node: some FreestandingMacroExpansionSyntax, in context: some MacroExpansionContext
    ) throws -> ExprSyntax {
        let closures = node.arguments.compactMap { $0.expression.as(ClosureExprSyntax.self) }
        guard let closure = node.trailingClosure ?? closures.last else {
            throw DiagnosticsError(diagnostics: [Diagnostic(node: Syntax(node), message: MacroMessage.missingClosure)])
        }
        if let signature = closure.signature {
            throw DiagnosticsError(diagnostics: [
                Diagnostic(node: Syntax(signature), message: MacroMessage.closureParameters)
            ])
        }
        // The block starts in the middle of a line: indent its first line like its closing brace.
        let source = SourceText(of: node, in: context, indentationFromLastLine: true)
        let name: String
        if let first = node.arguments.first, first.label == nil, !first.expression.is(ClosureExprSyntax.self) {
            guard let literal = first.expression.as(StringLiteralExprSyntax.self),
                let text = literal.representedLiteralValue
            else {
                throw DiagnosticsError(diagnostics: [
                    Diagnostic(node: Syntax(first.expression), message: MacroMessage.blockName)
                ])
            }
            name = text
        } else {
            name = "block at line \(source.firstLine)"
        }

        let statements = closure.statements
        let returned = statements.count == 1
            ? statements.first.flatMap(ProfiledBody.returnableExpression) : nil
        let frame = ProfiledBody.frameName
        let instrumenter = StatementInstrumenter(source: source, frameName: frame)
        let instrumented = instrumenter.instrumentBody(statements, returnedExpression: returned)
        let body = CodeBlockItemListSyntax(instrumented).description
        return """
            MemoryProfiler.LineProfiler.profile(\
            block: \(literal: name), file: \(literal: source.filePath), line: \(raw: source.firstLine), \
            source: \(literal: source.text)) { (\(raw: frame): inout MemoryProfiler.LineFrame) in
            \(raw: body)
            }
            """
    }
}
