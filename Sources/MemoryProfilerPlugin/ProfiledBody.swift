import SwiftSyntax

/// What more than one of the two macros and the statement instrumenter need to know about a profiled body: in a
/// type of its own, so that none of them reaches into another for it.
enum ProfiledBody {
    /// The name of the local variable holding the call's frame; unlikely to clash with user names.
    static let frameName = "__memoryProfilerFrame"

    /// Whether the item runs where it stands: statements, expressions and variable declarations, not local
    /// functions, types or compiler directives.
    static func executes(_ item: CodeBlockItemSyntax) -> Bool {
        switch item.item {
        case .decl(let declaration): declaration.is(VariableDeclSyntax.self)
        case .stmt, .expr: true
        }
    }

    /// The expression a single-expression body returns, when `return` can be written before it: not a call of
    /// a function that never returns, and an `if` or `switch` only when every branch is one expression.
    static func returnableExpression(_ item: CodeBlockItemSyntax) -> ExprSyntax? {
        guard let expression = implicitlyReturnedExpression(item) else { return nil }
        if let call = expression.as(FunctionCallExprSyntax.self),
            let callee = call.calledExpression.as(DeclReferenceExprSyntax.self),
            neverReturning.contains(callee.baseName.text)
        {
            return nil
        }
        if let ifExpression = expression.as(IfExprSyntax.self) {
            return isValueBranching(ifExpression) ? expression : nil
        }
        if let switchExpression = expression.as(SwitchExprSyntax.self) {
            let branches = switchExpression.cases.allSatisfy { element in
                guard case .switchCase(let switchCase) = element else { return false }
                return isSingleValue(switchCase.statements)
            }
            return branches ? expression : nil
        }
        return expression
    }

    private static let neverReturning: Set<String> = ["fatalError", "preconditionFailure", "abort", "exit", "dispatchMain"]

    private static func isValueBranching(_ ifExpression: IfExprSyntax) -> Bool {
        guard isSingleValue(ifExpression.body.statements) else { return false }
        switch ifExpression.elseBody {
        case .ifExpr(let elseIf): return isValueBranching(elseIf)
        case .codeBlock(let block): return isSingleValue(block.statements)
        case nil: return false
        }
    }

    /// A branch of an `if` or `switch` expression: one expression, or one `throw`.
    private static func isSingleValue(_ statements: CodeBlockItemListSyntax) -> Bool {
        guard statements.count == 1, let only = statements.first else { return false }
        switch only.item {
        case .expr: return true
        case .stmt(let statement): return statement.is(ExpressionStmtSyntax.self) || statement.is(ThrowStmtSyntax.self)
        case .decl: return false
        }
    }

    private static func implicitlyReturnedExpression(_ item: CodeBlockItemSyntax) -> ExprSyntax? {
        switch item.item {
        case .expr(let expression): return expression
        case .stmt(let statement): return statement.as(ExpressionStmtSyntax.self)?.expression
        case .decl: return nil
        }
    }
}
