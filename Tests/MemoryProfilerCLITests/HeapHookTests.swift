import Foundation
import MemoryProfilerTestSupport
import Testing

/// libmprof-heap-hook.so, preloaded: it counts what a program allocates and frees, and a Swift program runs under
/// it as usual. `swift build` builds the library with every other product; a test target cannot depend on it, as
/// linking it in would replace the test bundle's own malloc.
struct HeapHookTests {
    static var hook: String { BuiltProducts.path("libmprof-heap-hook.so") }

    @Test func itCountsEveryAllocationAndFreeOfACProgram() throws {
        let directory = try TemporaryDirectory()
        let source = "\(directory.path)/allocate.c"
        let program = "\(directory.path)/allocate"
        // 1000 mallocs of 100 bytes and their frees, 10 callocs of 80 bytes, then 5 of those grown to 256 bytes.
        // No stdio: printf would allocate its buffer.
        try """
            #include <stdlib.h>
            int main(void) {
                static void *blocks[1000], *zeroed[10];
                for (int i = 0; i < 1000; i++) blocks[i] = malloc(100);
                for (int i = 0; i < 1000; i++) free(blocks[i]);
                for (int i = 0; i < 10; i++) zeroed[i] = calloc(10, 8);
                for (int i = 0; i < 5; i++) zeroed[i] = realloc(zeroed[i], 256);
                return zeroed[9] == NULL;
            }
            """.write(toFile: source, atomically: true, encoding: .utf8)
        // cc writes the executable from its own process: no descriptor of ours is open on it when we exec it.
        let compile = try runCommand("cc", ["-O0", "-o", program, source])
        try #require(compile.status == 0, "\(compile.standardError)")

        let counts = try Self.run(program, [], in: directory)
        #expect(counts.status == 0, "\(counts.standardError)")
        // libc may add a few of its own; each realloc counts as an allocation and a free.
        let allocations = try #require(counts.values["allocations"]), frees = try #require(counts.values["frees"])
        let bytes = try #require(counts.values["bytes"])
        #expect(allocations >= 1015 && allocations < 1015 + 50, "\(counts.values)")
        #expect(frees >= 1005 && frees < 1005 + 50, "\(counts.values)")
        #expect(bytes >= 1000 * 100 + 10 * 80 + 5 * 256, "\(counts.values)")
    }

    @Test func aSwiftProgramRunsUnderItAndIsCounted() throws {
        let directory = try TemporaryDirectory()
        let counts = try Self.run(BuiltProducts.path("memory-workload"), ["hold", "4", "--exit"], in: directory)
        #expect(counts.status == 0, "\(counts.standardError)")
        #expect(counts.standardOutput == "ok\n")
        // The Swift runtime's and Foundation's start-up alone make hundreds; the 4 MiB block is one of them.
        #expect((counts.values["allocations"] ?? 0) > 100, "\(counts.values)")
        #expect((counts.values["bytes"] ?? 0) >= 4 << 20, "\(counts.values)")
    }

    /// Runs `program` with the hook preloaded and returns its result and the numbers of the line the hook wrote.
    static func run(_ program: String, _ arguments: [String], in directory: TemporaryDirectory) throws -> (
        status: Int32, standardOutput: String, standardError: String, values: [String: Int]
    ) {
        try #require(FileManager.default.fileExists(atPath: hook), "\(hook) is missing: build with `swift build`")
        let output = "\(directory.path)/heap.txt"
        let result = try runCommand(program, arguments, environment: ["LD_PRELOAD": hook, "MPROF_HEAP_OUTPUT": output])
        let line = try String(contentsOfFile: output, encoding: .utf8)
        #expect(line.hasPrefix("mprof-heap: ") && line.hasSuffix("\n"), "\(line)")
        #expect(line.split(separator: "\n").count == 1, "\(line)")
        var values: [String: Int] = [:]
        for field in line.dropFirst("mprof-heap: ".count).split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let parts = field.split(separator: "=")
            if parts.count == 2, let value = Int(parts[1]) { values[String(parts[0])] = value }
        }
        #expect(Set(values.keys) == ["allocations", "frees", "bytes"], "\(line)")
        return (result.status, result.standardOutput, result.standardError, values)
    }
}
