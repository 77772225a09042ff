import SwiftDiagnostics
import SwiftSyntax
import SwiftSyntaxMacros

/// `@MemoryProfiled`: gives a function a body that records, before each statement, the memory the previous
/// statement left behind.
///
/// The expansion keeps the user's statements as they are and puts a probe call between them (rather than
/// wrapping statements in closures), so `let` bindings stay in scope and `try`, `await`, `return`, labelled
/// `break`/`continue` and `fallthrough` keep working. See ``StatementInstrumenter`` for the details.
public struct MemoryProfiledMacro: BodyMacro {
    /// The user's statements keep their exact spelling and columns: no reformatting of the expansion.
    public static var formatMode: FormatMode { .disabled }

    public static func expansion(
        of node: AttributeSyntax,
        providingBodyFor declaration: some DeclSyntaxProtocol & WithOptionalCodeBlockSyntax,
        in context: some MacroExpansionContext
    ) throws -> [CodeBlockItemSyntax] {
        guard let body = declaration.body else {
            throw DiagnosticsError(diagnostics: [
                Diagnostic(node: Syntax(node), message: MacroMessage.missingBody(of: declarationKind(declaration)))
            ])
        }
        if let builder = resultBuilderAttribute(of: declaration) {
            throw DiagnosticsError(diagnostics: [
                Diagnostic(node: Syntax(builder), message: MacroMessage.resultBuilder(builder.trimmedDescription))
            ])
        }
        let source = SourceText(of: declaration, in: context)
        let name = qualifiedName(of: declaration, in: context)
        let precision = try precisionArgument(of: node)

        let frameName = ProfiledBody.frameName
        let instrumenter = StatementInstrumenter(source: source, frameName: frameName)
        let statements = body.statements
        let returned = statements.count == 1 && returnsValue(declaration)
            ? statements.first.flatMap(ProfiledBody.returnableExpression) : nil
        let instrumented = instrumenter.instrumentBody(statements, returnedExpression: returned)

        let indent = body.statements.first.map(source.indentation(of:))
            ?? .newline + .spaces(source.column(of: declaration) + 3)
        let enter: CodeBlockItemSyntax = """
            \(indent)var \(raw: frameName) = MemoryProfiler.LineProfiler.enter(\
            function: \(literal: name), file: \(literal: source.filePath), line: \(raw: source.firstLine), \
            source: \(literal: source.text), precision: \(raw: precision.map(String.init) ?? "nil"))
            """
        // Nothing runs in a body of declarations only: a `defer` would end the scope and draw a warning.
        guard statements.contains(where: ProfiledBody.executes) else {
            return [enter] + instrumented + ["\(indent)\(raw: frameName).exit()"]
        }
        let exit: CodeBlockItemSyntax = "\(indent)defer { \(raw: frameName).exit() }"
        return [enter, exit] + instrumented
    }

    /// An attribute naming a result builder (by the convention that their names end in `Builder`): its body is
    /// builder content, where probe calls cannot go.
    private static func resultBuilderAttribute(of declaration: some DeclSyntaxProtocol) -> AttributeSyntax? {
        guard let attributes = declaration.asProtocol(WithAttributesSyntax.self)?.attributes else { return nil }
        for case .attribute(let attribute) in attributes {
            let name = attribute.attributeName.trimmedDescription
            if name.hasSuffix("Builder") { return attribute }
        }
        return nil
    }

    /// Closures cannot carry a body macro without an experimental compiler feature: point at the expression
    /// macro instead.
    public static func expansion(
        of node: AttributeSyntax,
        providingBodyFor closure: ClosureExprSyntax,
        in context: some MacroExpansionContext
    ) throws -> [CodeBlockItemSyntax] {
        throw DiagnosticsError(diagnostics: [Diagnostic(node: Syntax(node), message: MacroMessage.closure)])
    }

    private static func declarationKind(_ declaration: some DeclSyntaxProtocol) -> String {
        if declaration.is(InitializerDeclSyntax.self) { return "an initializer" }
        if declaration.is(DeinitializerDeclSyntax.self) { return "a deinitializer" }
        if declaration.is(AccessorDeclSyntax.self) { return "an accessor" }
        return "a function"
    }

    private static func precisionArgument(of node: AttributeSyntax) throws -> Int? {
        guard case .argumentList(let arguments) = node.arguments else { return nil }
        for argument in arguments where argument.label?.text == "precision" {
            guard let literal = argument.expression.as(IntegerLiteralExprSyntax.self),
                let value = Int(literal.literal.text.filter { $0 != "_" }), (0...12).contains(value)
            else {
                throw DiagnosticsError(diagnostics: [
                    Diagnostic(node: Syntax(argument.expression), message: MacroMessage.precision)
                ])
            }
            return value
        }
        return nil
    }

    /// Whether a single-expression body's value is the function's result (not `Void`, not `Never`).
    private static func returnsValue(_ declaration: some DeclSyntaxProtocol) -> Bool {
        if let function = declaration.as(FunctionDeclSyntax.self) {
            guard let type = function.signature.returnClause?.type else { return false }
            return !isVoidOrNever(type)
        }
        if let accessor = declaration.as(AccessorDeclSyntax.self) {
            return accessor.accessorSpecifier.tokenKind == .keyword(.get)
        }
        return false
    }

    private static func isVoidOrNever(_ type: TypeSyntax) -> Bool {
        if let tuple = type.as(TupleTypeSyntax.self) { return tuple.elements.isEmpty }
        if let identifier = type.as(IdentifierTypeSyntax.self) {
            return ["Void", "Never"].contains(identifier.name.text) && identifier.genericArgumentClause == nil
        }
        if let member = type.as(MemberTypeSyntax.self) {
            return member.baseType.trimmedDescription == "Swift" && ["Void", "Never"].contains(member.name.text)
        }
        return false
    }

    /// `Catalog.load(from:)`: enclosing types and functions from the lexical context, then the declaration.
    private static func qualifiedName(
        of declaration: some DeclSyntaxProtocol, in context: some MacroExpansionContext
    ) -> String {
        let enclosing = context.lexicalContext.reversed().compactMap { scopeName(of: $0) }
        return (enclosing + [scopeName(of: Syntax(declaration)) ?? "body"]).joined(separator: ".")
    }

    private static func scopeName(of node: Syntax) -> String? {
        if let type = node.asProtocol(NamedDeclSyntax.self), !node.is(FunctionDeclSyntax.self) {
            return type.name.text
        }
        if let function = node.as(FunctionDeclSyntax.self) {
            return function.name.text + labels(function.signature.parameterClause)
        }
        if let initializer = node.as(InitializerDeclSyntax.self) {
            return "init" + (initializer.optionalMark?.text ?? "") + labels(initializer.signature.parameterClause)
        }
        if node.is(DeinitializerDeclSyntax.self) { return "deinit" }
        if let accessor = node.as(AccessorDeclSyntax.self) { return accessor.accessorSpecifier.text }
        if let binding = node.as(PatternBindingSyntax.self) { return binding.pattern.trimmedDescription }
        if let extensionDecl = node.as(ExtensionDeclSyntax.self) { return extensionDecl.extendedType.trimmedDescription }
        return nil
    }

    private static func labels(_ parameters: FunctionParameterClauseSyntax) -> String {
        "(" + parameters.parameters.map { ($0.firstName.text) + ":" }.joined() + ")"
    }
}
