import MemoryProfilerPlugin
import SwiftSyntaxMacroExpansion
import SwiftSyntaxMacrosGenericTestSupport
import Testing

/// The expansion itself, checked with swift-syntax's expansion tests: an end-to-end build alone could run a
/// stale plugin, since SwiftPM does not always rebuild clients when the macro implementation changes.
@Suite struct MemoryProfiledMacroTests {
    let macros: [String: MacroSpec] = [
        "MemoryProfiled": MacroSpec(type: MemoryProfiledMacro.self),
        "memoryProfiled": MacroSpec(type: MemoryProfiledBlockMacro.self),
    ]

    @Test func probesEveryStatementAndCountsLoopHeadersPerIteration() {
        assertMacroExpansion(
            """
            @MemoryProfiled
            func sum(_ count: Int) -> Int {
                var total = 0
                for value in 0..<count {
                    total += value
                }
                return total
            }
            """,
            expandedSource: #"""
                func sum(_ count: Int) -> Int {

                    var __memoryProfilerFrame = MemoryProfiler.LineProfiler.enter(function: "sum(_:)", file: "test.swift", line: 1, source: "@MemoryProfiled\nfunc sum(_ count: Int) -> Int {\n    var total = 0\n    for value in 0..<count {\n        total += value\n    }\n    return total\n}", precision: nil)
                    defer { __memoryProfilerFrame.exit() }
                    __memoryProfilerFrame.line(3)
                    #sourceLocation(file: "test.swift", line: 3)
                    var total = 0
                    __memoryProfilerFrame.line(4)
                    #sourceLocation(file: "test.swift", line: 4)
                    for value in 0..<count {
                        defer { __memoryProfilerFrame.loopBack(4) }
                        __memoryProfilerFrame.line(5)
                        #sourceLocation(file: "test.swift", line: 5)
                        total += value
                    }
                    __memoryProfilerFrame.loopExited()
                    __memoryProfilerFrame.line(7)
                    #sourceLocation(file: "test.swift", line: 7)
                    return total
                #sourceLocation()

                }
                """#,
            macroSpecs: macros, failureHandler: record)
    }

    @Test func keepsTheImplicitReturnOfASingleExpressionBody() {
        assertMacroExpansion(
            """
            @MemoryProfiled(precision: 3)
            func triple(_ value: Int) -> Int { value * 3 }
            """,
            expandedSource: #"""
                func triple(_ value: Int) -> Int {

                                                   var __memoryProfilerFrame = MemoryProfiler.LineProfiler.enter(function: "triple(_:)", file: "test.swift", line: 1, source: "@MemoryProfiled(precision: 3)\nfunc triple(_ value: Int) -> Int { value * 3 }", precision: 3)
                                                   defer { __memoryProfilerFrame.exit() }
                                                   __memoryProfilerFrame.line(2)
                                                   #sourceLocation(file: "test.swift", line: 2)
                                                   return value * 3
                #sourceLocation()

                }
                """#,
            macroSpecs: macros, failureHandler: record)
    }

    @Test func replacesLineAndColumnWithTheirOwnPlace() {
        assertMacroExpansion(
            """
            @MemoryProfiled
            func here() -> [Int] {
                let values = [#line, #column]
                return values
            }
            """,
            expandedSource: #"""
                func here() -> [Int] {

                    var __memoryProfilerFrame = MemoryProfiler.LineProfiler.enter(function: "here()", file: "test.swift", line: 1, source: "@MemoryProfiled\nfunc here() -> [Int] {\n    let values = [#line, #column]\n    return values\n}", precision: nil)
                    defer { __memoryProfilerFrame.exit() }
                    __memoryProfilerFrame.line(3)
                    #sourceLocation(file: "test.swift", line: 3)
                    let values = [3, 26]
                    __memoryProfilerFrame.line(4)
                    #sourceLocation(file: "test.swift", line: 4)
                    return values
                #sourceLocation()

                }
                """#,
            macroSpecs: macros, failureHandler: record)
    }

    @Test func leavesClosuresAndLocalFunctionsWhole() {
        assertMacroExpansion(
            """
            struct Catalog {
                @MemoryProfiled
                mutating func load() {
                    func helper() -> Int { 1 }
                    let double = { (x: Int) in
                        x * 2
                    }
                    guard helper() > 0 else { return }
                }
            }
            """,
            expandedSource: #"""
                struct Catalog {
                    mutating func load() {

                            var __memoryProfilerFrame = MemoryProfiler.LineProfiler.enter(function: "Catalog.load()", file: "test.swift", line: 2, source: "    @MemoryProfiled\n    mutating func load() {\n        func helper() -> Int { 1 }\n        let double = { (x: Int) in\n            x * 2\n        }\n        guard helper() > 0 else { return }\n    }", precision: nil)
                            defer { __memoryProfilerFrame.exit() }
                            #sourceLocation(file: "test.swift", line: 4)
                            func helper() -> Int { 1 }
                            __memoryProfilerFrame.line(5)
                            #sourceLocation(file: "test.swift", line: 5)
                            let double = { (x: Int) in
                                x * 2
                            }
                            __memoryProfilerFrame.line(8)
                            #sourceLocation(file: "test.swift", line: 8)
                            guard helper() > 0 else { 
                                                      __memoryProfilerFrame.line(8)
                                                      #sourceLocation(file: "test.swift", line: 8)
                                                      return }
                    #sourceLocation()

                    }
                }
                """#,
            macroSpecs: macros, failureHandler: record)
    }

    @Test func profilesABlockThroughTheExpressionMacro() {
        assertMacroExpansion(
            """
            let result = #memoryProfiled("parse") {
                let words = text.split(separator: " ")
                return words.count
            }
            """,
            expandedSource: ##"""
                let result = MemoryProfiler.LineProfiler.profile(block: "parse", file: "test.swift", line: 1, source: #"#memoryProfiled("parse") {\#n    let words = text.split(separator: " ")\#n    return words.count\#n}"#) { (__memoryProfilerFrame: inout MemoryProfiler.LineFrame) in

                    __memoryProfilerFrame.line(2)
                    #sourceLocation(file: "test.swift", line: 2)
                    let words = text.split(separator: " ")
                    __memoryProfilerFrame.line(3)
                    #sourceLocation(file: "test.swift", line: 3)
                    return words.count
                #sourceLocation()

                }
                """##,
            macroSpecs: macros, failureHandler: record)
    }

    @Test func rejectsADeclarationWithoutBody() {
        assertMacroExpansion(
            """
            protocol Loader {
                @MemoryProfiled
                func load() -> Int
            }
            """,
            expandedSource: """
                protocol Loader {
                    func load() -> Int
                }
                """,
            diagnostics: [
                DiagnosticSpec(
                    message: "@MemoryProfiled needs a function with a body to profile; a protocol requirement or a "
                        + "declaration without body has no lines to measure",
                    line: 2, column: 5)
            ],
            macroSpecs: macros, failureHandler: record)
    }

    @Test func rejectsAResultBuilderBody() {
        assertMacroExpansion(
            """
            @MemoryProfiled
            @ViewBuilder
            func content() -> some View { Text("a") }
            """,
            expandedSource: """
                @ViewBuilder
                func content() -> some View { Text("a") }
                """,
            diagnostics: [
                DiagnosticSpec(
                    message: "@MemoryProfiled cannot instrument a result builder body (@ViewBuilder): its statements "
                        + "are the builder's content; profile the function that calls it, or a helper it calls",
                    line: 2, column: 1)
            ],
            macroSpecs: macros, failureHandler: record)
    }

    @Test func rejectsAPrecisionOutOfRange() {
        assertMacroExpansion(
            """
            @MemoryProfiled(precision: 40)
            func work() {}
            """,
            expandedSource: """
                func work() {}
                """,
            diagnostics: [
                DiagnosticSpec(
                    message: "precision must be an integer literal between 0 and 12 (digits after the decimal point "
                        + "of MiB)",
                    line: 1, column: 28)
            ],
            macroSpecs: macros, failureHandler: record)
    }

    @Test func rejectsABlockWithParameters() {
        assertMacroExpansion(
            """
            let value = #memoryProfiled("x") { item in item }
            """,
            expandedSource: """
                let value = #memoryProfiled("x") { item in item }
                """,
            diagnostics: [
                DiagnosticSpec(
                    message: "#memoryProfiled takes a closure without parameters or capture list; its statements run once, "
                        + "right here",
                    line: 1, column: 36)
            ],
            macroSpecs: macros, failureHandler: record)
    }

    private func record(_ failure: TestFailureSpec) {
        Issue.record(
            Comment(rawValue: failure.message),
            sourceLocation: SourceLocation(
                fileID: failure.location.fileID, filePath: failure.location.filePath, line: failure.location.line,
                column: failure.location.column))
    }
}
