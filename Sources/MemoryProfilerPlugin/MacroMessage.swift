import SwiftDiagnostics
import SwiftSyntax
import SwiftSyntaxMacros

enum MacroMessage: DiagnosticMessage {
    case missingBody(of: String)
    case closure
    case precision
    case missingClosure
    case closureParameters
    case blockName
    case resultBuilder(String)

    var message: String {
        switch self {
        case .missingBody(let kind):
            "@MemoryProfiled needs \(kind) with a body to profile; a protocol requirement or a declaration "
                + "without body has no lines to measure"
        case .closure:
            "@MemoryProfiled cannot be attached to a closure; profile it with #memoryProfiled { ... } instead"
        case .precision:
            "precision must be an integer literal between 0 and 12 (digits after the decimal point of MiB)"
        case .missingClosure:
            "#memoryProfiled needs the statements to profile as a trailing closure: #memoryProfiled(\"name\") { ... }"
        case .closureParameters:
            "#memoryProfiled takes a closure without parameters or capture list; its statements run once, right here"
        case .resultBuilder(let attribute):
            "@MemoryProfiled cannot instrument a result builder body (\(attribute)): its statements are the "
                + "builder's content; profile the function that calls it, or a helper it calls"
        case .blockName:
            "the block's name must be a string literal, such as #memoryProfiled(\"load\") { ... }"
        }
    }

    var diagnosticID: MessageID { MessageID(domain: "MemoryProfilerPlugin", id: "\(self)") }
    var severity: DiagnosticSeverity { .error }
}
