import SwiftSyntax

/// Puts a probe call before every statement of a body, at every depth of statement nesting.
///
/// - Every statement gets `frame.line(N)` before it, N being its line in the user's file.
/// - `if`/`else`, `guard`, `switch` cases, loops, `do`/`catch`, `defer` and `#if` clauses are entered.
/// - A loop's header is probed before the loop and again at the end of every iteration (a `defer` at the top of
///   the body), so it counts iterations plus one, like memory_profiler's `for` lines.
/// - Closures, local functions, local types and `if`/`switch` in expression position are not entered: their
///   cost lands on the statement that runs them.
/// - Each statement is preceded by `#sourceLocation(file:line:)` naming its real place, and keeps its indentation,
///   so compiler diagnostics, `#line`, `#filePath` and debug line tables point at the user's own line and column.
struct StatementInstrumenter {
    /// The declaration being instrumented, for the line and column of each statement.
    let source: SourceText
    /// The local variable the probes are called on; the macro that owns the instrumenter declares it.
    let frameName: String

    /// `#sourceLocation()`, which ends the remapping after the last statement.
    private var restoringSourceLocation: [CodeBlockItemSyntax] {
        [CodeBlockItemSyntax(item: .decl("\n#sourceLocation()\n"))]
    }

    /// The instrumented body. `returnedExpression`, the expression of a single-expression body whose value is
    /// the result, becomes `return expression`, as it must once probes stand around it.
    func instrumentBody(
        _ items: CodeBlockItemListSyntax, returnedExpression: ExprSyntax?
    ) -> [CodeBlockItemSyntax] {
        let positions = MagicLiteralPositions(in: items, source: source)
        let instrumented: [CodeBlockItemSyntax]
        if let returnedExpression, items.count == 1, let only = items.first {
            let line = source.line(of: only)
            let returned = CodeBlockItemSyntax(
                leadingTrivia: source.indentation(of: only),
                item: .stmt(
                    StmtSyntax(
                        ReturnStmtSyntax(
                            returnKeyword: .keyword(.return, trailingTrivia: .space),
                            expression: returnedExpression.trimmed))))
            let indent = source.indentation(of: only)
            instrumented = [probe("line", line, indent), sourceLocation(line, indent), returned]
        } else {
            instrumented = instrumentStatements(items)
        }
        guard !instrumented.isEmpty else { return [] }
        let rewriter = MagicLiteralRewriter(positions: positions)
        return instrumented.map { rewriter.rewrite($0).cast(CodeBlockItemSyntax.self) } + restoringSourceLocation
    }

    private func instrumentStatements(_ items: CodeBlockItemListSyntax) -> [CodeBlockItemSyntax] {
        var result: [CodeBlockItemSyntax] = []
        for item in items {
            let line = source.line(of: item)
            let executes = ProfiledBody.executes(item)
            let indent = source.indentation(of: item)
            if executes { result.append(probe("line", line, indent)) }
            result.append(sourceLocation(line, indent))
            result.append(instrumentNested(in: item).with(\.leadingTrivia, indent))
            if Self.endsReachably(loop: item) {
                // A loop that ran to its end tested its header once more: that run counts even when nothing
                // follows the loop.
                result.append(probe("loopExited", line, indent, argument: false))
            }
        }
        return result
    }

    private func instrumentNested(in item: CodeBlockItemSyntax) -> CodeBlockItemSyntax {
        let line = source.line(of: item)
        switch item.item {
        case .stmt(let statement):
            return item.with(\.item, .stmt(instrument(statement, headerLine: line)))
        case .expr(let expression):
            return item.with(\.item, .expr(instrument(expression)))
        case .decl(let declaration):
            if let conditional = declaration.as(IfConfigDeclSyntax.self) {
                return item.with(\.item, .decl(DeclSyntax(instrument(conditional))))
            }
            return item
        }
    }

    private func instrument(_ statement: StmtSyntax, headerLine: Int) -> StmtSyntax {
        if let expression = statement.as(ExpressionStmtSyntax.self) {
            return StmtSyntax(expression.with(\.expression, instrument(expression.expression)))
        }
        if let guardStatement = statement.as(GuardStmtSyntax.self) {
            return StmtSyntax(guardStatement.with(\.body, instrument(guardStatement.body)))
        }
        if let loop = statement.as(ForStmtSyntax.self) {
            return StmtSyntax(loop.with(\.body, instrumentLoopBody(loop.body, headerLine: headerLine)))
        }
        if let loop = statement.as(WhileStmtSyntax.self) {
            return StmtSyntax(loop.with(\.body, instrumentLoopBody(loop.body, headerLine: headerLine)))
        }
        if let loop = statement.as(RepeatStmtSyntax.self) {
            // The condition runs after each iteration, on its own line: that line counts the iterations.
            let conditionLine = source.line(of: loop.whileKeyword)
            return StmtSyntax(loop.with(\.body, instrumentLoopBody(loop.body, headerLine: conditionLine)))
        }
        if let doStatement = statement.as(DoStmtSyntax.self) {
            var result = doStatement.with(\.body, instrument(doStatement.body))
            result.catchClauses = CatchClauseListSyntax(
                doStatement.catchClauses.map { $0.with(\.body, instrument($0.body)) })
            return StmtSyntax(result)
        }
        if let deferStatement = statement.as(DeferStmtSyntax.self) {
            return StmtSyntax(deferStatement.with(\.body, instrument(deferStatement.body)))
        }
        if let labeled = statement.as(LabeledStmtSyntax.self) {
            return StmtSyntax(labeled.with(\.statement, instrument(labeled.statement, headerLine: headerLine)))
        }
        return statement
    }

    /// `if` and `switch` in statement position; any other expression is left whole.
    private func instrument(_ expression: ExprSyntax) -> ExprSyntax {
        if let ifExpression = expression.as(IfExprSyntax.self) {
            return ExprSyntax(instrument(ifExpression))
        }
        if let switchExpression = expression.as(SwitchExprSyntax.self) {
            return ExprSyntax(switchExpression.with(\.cases, instrument(switchExpression.cases)))
        }
        return expression
    }

    private func instrument(_ ifExpression: IfExprSyntax) -> IfExprSyntax {
        var result = ifExpression.with(\.body, instrument(ifExpression.body))
        switch ifExpression.elseBody {
        case .ifExpr(let elseIf): result.elseBody = .ifExpr(instrument(elseIf))
        case .codeBlock(let block): result.elseBody = .codeBlock(instrument(block))
        case nil: break
        }
        return result
    }

    private func instrument(_ cases: SwitchCaseListSyntax) -> SwitchCaseListSyntax {
        SwitchCaseListSyntax(
            cases.map { element in
                switch element {
                case .switchCase(let switchCase):
                    let statements = CodeBlockItemListSyntax(instrumentStatements(switchCase.statements))
                    return .switchCase(switchCase.with(\.statements, statements))
                case .ifConfigDecl(let conditional):
                    return .ifConfigDecl(instrument(conditional))
                }
            })
    }

    private func instrument(_ conditional: IfConfigDeclSyntax) -> IfConfigDeclSyntax {
        conditional.with(
            \.clauses,
            IfConfigClauseListSyntax(
                conditional.clauses.map { clause in
                    switch clause.elements {
                    case .statements(let statements):
                        return clause.with(\.elements, .statements(CodeBlockItemListSyntax(instrumentStatements(statements))))
                    case .switchCases(let cases):
                        return clause.with(\.elements, .switchCases(instrument(cases)))
                    default:
                        return clause
                    }
                }))
    }

    private func instrument(_ block: CodeBlockSyntax) -> CodeBlockSyntax {
        block.with(\.statements, CodeBlockItemListSyntax(instrumentStatements(block.statements)))
    }

    private func instrumentLoopBody(_ block: CodeBlockSyntax, headerLine: Int) -> CodeBlockSyntax {
        let statements = instrumentStatements(block.statements)
        let indent = block.statements.first.map(source.indentation(of:))
            ?? .newline + .spaces(source.column(of: block) + 3)
        // An empty body gets the call itself: a lone `defer` at the end of a scope draws a warning.
        let loopBack: CodeBlockItemSyntax =
            statements.isEmpty
            ? probe("loopBack", headerLine, indent)
            : CodeBlockItemSyntax(
                item: .stmt(StmtSyntax("\(indent)\(raw: "defer { \(frameName).loopBack(\(headerLine)) }")")))
        return block.with(\.statements, CodeBlockItemListSyntax([loopBack] + statements))
    }

    private func probe(_ method: String, _ line: Int, _ indent: Trivia, argument: Bool = true) -> CodeBlockItemSyntax {
        let call = argument ? "\(frameName).\(method)(\(line))" : "\(frameName).\(method)()"
        return CodeBlockItemSyntax(item: .expr(ExprSyntax("\(indent)\(raw: call)")))
    }

    private func sourceLocation(_ line: Int, _ indent: Trivia) -> CodeBlockItemSyntax {
        let directive: DeclSyntax = "\(indent)#sourceLocation(file: \"\(raw: escaped(source.filePath))\", line: \(raw: line))"
        return CodeBlockItemSyntax(item: .decl(directive))
    }

    /// Whether the item is a loop whose end can be reached (not `while true`, after which code is unreachable).
    static func endsReachably(loop item: CodeBlockItemSyntax) -> Bool {
        guard case .stmt(var statement) = item.item else { return false }
        while let labeled = statement.as(LabeledStmtSyntax.self) { statement = labeled.statement }
        if statement.is(ForStmtSyntax.self) { return true }
        if let loop = statement.as(WhileStmtSyntax.self) {
            return loop.conditions.trimmedDescription != "true"
        }
        if let loop = statement.as(RepeatStmtSyntax.self) {
            return loop.condition.trimmedDescription != "true"
        }
        return false
    }

    private func escaped(_ path: String) -> String {
        path.replacingBackslashesAndQuotes()
    }
}

extension String {
    fileprivate func replacingBackslashesAndQuotes() -> String {
        var result = ""
        for character in self {
            switch character {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            default: result.append(character)
            }
        }
        return result
    }
}
