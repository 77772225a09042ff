import Foundation
import MemoryProfilerTestSupport
import Testing

/// What the real compiler says about code inside and around `@MemoryProfiled`, with the plugin this package
/// built: errors in a profiled body point at the user's line and column, and misuse gets a clear message.
@Suite struct CompilerDiagnosticsTests {
    @Test func anErrorInAProfiledBodyPointsAtTheUsersLineAndColumn() throws {
        let output = try typecheck(
            """
            import MemoryProfilerMacros

            struct Catalog {
                @MemoryProfiled
                func compute(_ value: Int) -> Int {
                    let doubled = value * 2
                    if doubled > 2 {
                        let wrong: String = doubled
                    }
                    return doubled
                }
            }
            """)
        #expect(output.contains("snippet.swift:8:33: error: cannot convert value of type 'Int' to specified type 'String'"))
    }

    @Test func misuseGetsAClearMessage() throws {
        let output = try typecheck(
            """
            import MemoryProfilerMacros

            protocol Loader {
                @MemoryProfiled
                func load() -> Int
            }

            struct Sizes {
                @MemoryProfiled
                var count: Int { 3 }
            }

            let triple = { @MemoryProfiled in 3 }
            """)
        #expect(
            output.contains(
                "snippet.swift:4:5: error: @MemoryProfiled needs a function with a body to profile; a protocol "
                    + "requirement or a declaration without body has no lines to measure"))
        #expect(output.contains("snippet.swift:9:5: error: 'body' macro cannot be attached to property"))
        #expect(
            output.contains(
                "snippet.swift:13:16: error: @MemoryProfiled cannot be attached to a closure; profile it with "
                    + "#memoryProfiled { ... } instead"))
    }

    /// Type-checks `source` against the modules and the macro plugin of this build; returns the diagnostics.
    private func typecheck(_ source: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("diagnostics-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("snippet.swift").path
        try source.write(toFile: file, atomically: true, encoding: .utf8)
        let built = BuiltProducts.directory
        let result = try runCommand(
            "swiftc",
            [
                "-typecheck", "-I", "\(built)/Modules",
                "-Xcc", "-fmodule-map-file=\(built)/CMemoryProfilerShims.build/module.modulemap",
                "-load-plugin-executable", "\(built)/MemoryProfilerPlugin-tool#MemoryProfilerPlugin", file,
            ])
        try #require(result.status != 0, "the snippet should not compile")
        return result.standardError.replacingOccurrences(of: directory.path + "/", with: "")
    }
}
