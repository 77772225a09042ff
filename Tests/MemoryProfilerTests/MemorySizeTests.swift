import Testing

@testable import MemoryProfiler
import MemoryProfilerSystem

@Suite struct MemorySizeTests {
    @Test func unitsArePowersOfTwo() {
        #expect(MemorySize(mebibytes: 1).bytes == 1_048_576)
        #expect(MemorySize(kibibytes: 1724).bytes == 1_765_376)
        #expect(MemorySize(bytes: 3 << 19).mebibytes == 1.5)
    }

    @Test func differencesCanBeNegative() {
        let increment = MemorySize(mebibytes: 50) - MemorySize(mebibytes: 80.5)
        #expect(increment.mebibytes == -30.5)
        #expect(increment.description == "-30.5 MiB")
    }

    @Test(arguments: [
        (250.4453125, 3, "250.445 MiB"),
        (62.0, 1, "62.0 MiB"),
        (0.0, 4, "0.0000 MiB"),
        (-0.01, 1, "0.0 MiB"),
    ])
    func formatting(mebibytes: Double, precision: Int, expected: String) {
        #expect(MemorySize(mebibytes: mebibytes).formatted(precision: precision) == expected)
    }

    @Test(arguments: [
        (1795585948.75111, 4, "1795585948.7511"),
        (6.449219, 6, "6.449219"),
        // Exact ties round to even, as Python's format (and so memory_profiler) does.
        (0.5, 0, "0"),
        (-2.25, 1, "-2.2"),
        (10.5625, 3, "10.562"),
        (10.5635, 3, "10.563"),
        (Double.nan, 2, "nan"),
    ])
    func decimalFormat(value: Double, decimals: Int, expected: String) {
        #expect(DecimalFormat.fixed(value, decimals: decimals) == expected)
    }

    /// The one way reports write bytes: each unit up to just below the next, negative amounts alike.
    @Test(arguments: [
        (0, "0 B"), (1023, "1023 B"), (-1023, "-1023 B"), (1024, "1.0 KiB"), (12_800, "12.5 KiB"),
        (1_048_575, "1024.0 KiB"), (1_048_576, "1.0 MiB"), (-3_355_443, "-3.2 MiB"),
        (1_073_741_823, "1024.0 MiB"), (1_073_741_824, "1.00 GiB"), (1_395_864_371, "1.30 GiB"),
    ])
    func readable(bytes: Int, expected: String) {
        #expect(MemorySize(bytes: bytes).readable == expected)
    }
}
