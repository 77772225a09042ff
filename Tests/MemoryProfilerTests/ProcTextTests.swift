import Testing

@testable import MemoryProfiler
import MemoryProfilerSystem

@Suite struct ProcTextTests {
    @Test(arguments: [
        ("4141 1724 3 1 0 2019 0\n", 0, 4141),
        ("4141 1724 3 1 0 2019 0\n", 1, 1724),
        ("4141 1724 3 1 0 2019 0\n", 6, 0),
        ("0 0 0 0 0 0 0\n", 1, 0),
    ])
    func statmFields(text: String, index: Int, expected: Int) {
        #expect(Array(text.utf8).withUnsafeBytes { ProcText.field(index, in: $0) } == expected)
    }

    @Test(arguments: ["", "4141\n", "abc 12\n"])
    func statmFieldMissing(text: String) {
        #expect(Array(text.utf8).withUnsafeBytes { ProcText.field(1, in: $0) } == nil)
    }

    static let status = """
        Name:\tcat
        State:\tR (running)
        VmPeak:\t    8248 kB
        VmHWM:\t    1724 kB
        VmRSS:\t    1724 kB

        """

    @Test func valueOfKeyFindsTheLineStartingWithTheKey() {
        let bytes = Array(Self.status.utf8)
        #expect(bytes.withUnsafeBytes { ProcText.value(ofKey: "VmHWM:", in: $0) } == 1724)
        #expect(bytes.withUnsafeBytes { ProcText.value(ofKey: "VmPeak:", in: $0) } == 8248)
        #expect(bytes.withUnsafeBytes { ProcText.value(ofKey: "VmSwap:", in: $0) } == nil)
        #expect(bytes.withUnsafeBytes { ProcText.hasLine(startingWith: "State:", in: $0) })
    }

    @Test func pssIsNotConfusedWithPssDirtyOrSwapPss() {
        let rollup = """
            56118f7e1000-7fffbc79e000 ---p 00000000 00:00 0                          [rollup]
            Rss:                1624 kB
            Pss_Dirty:           112 kB
            Pss:                 761 kB
            SwapPss:               9 kB

            """
        #expect(Array(rollup.utf8).withUnsafeBytes { ProcText.value(ofKey: "Pss:", in: $0) } == 761)
    }
}
