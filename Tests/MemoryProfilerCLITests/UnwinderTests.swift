import Foundation
import MemoryProfilerTestSupport
import Testing

/// The hook's unwinder alone (unwinder.c, with pages.c for its memory), outside any hook: known call chains, deep and
/// shallow, through frames whose CFA is rbp-based (alloca), each walked twice (the second is the first given back whole), and
/// compared frame for frame with glibc's backtrace(), which unwinds with libgcc (Tests/Fixtures/unwinder/walks.c).
/// Built as the program's code would be: optimized, unoptimized, and without frame pointers.
struct UnwinderTests {
    static let hook = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Sources/MemoryProfilerHeapHook").standardized.path
    static let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/unwinder/walks.c").standardized.path

    @Test(arguments: [["-O2"], ["-O0"], ["-O2", "-fomit-frame-pointer"]])
    func everyWalkIsTheOneLibgccMakes(flags: [String]) throws {
        let directory = try TemporaryDirectory()
        let program = "\(directory.path)/walks"
        let compile = try runCommand(
            "cc", flags + ["-g", "-I", Self.hook, "-I", "\(Self.hook)/include", "-o", program, Self.source,
                "\(Self.hook)/unwinder.c", "\(Self.hook)/pages.c", "-lpthread"])
        try #require(compile.status == 0, "\(compile.standardError)")
        let run = try runCommand(program, [])
        #expect(run.status == 0, "\(flags): \(run.standardOutput)")
        #expect(run.standardOutput.hasSuffix("56 walks, 28 reused, 0 failures\n"), "\(flags): \(run.standardOutput)")
    }
}
