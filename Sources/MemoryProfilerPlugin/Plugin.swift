import SwiftCompilerPlugin
import SwiftSyntaxMacros

@main
struct MemoryProfilerPlugin: CompilerPlugin {
    let providingMacros: [any Macro.Type] = [MemoryProfiledMacro.self, MemoryProfiledBlockMacro.self]
}
