import Foundation
@testable import MemoryProfiler
import MemoryProfilerTestSupport
import Testing

/// The gzip files mprof writes (pprof profiles, through zlib), read back by an independent inflater: Python's.
struct GzipTests {
    /// Inputs with every kind of match: none (random bytes), runs (distance 1, the longest lengths), matches at every
    /// distance up to the 32 KiB window and beyond it, and text.
    static func inputs() -> [[UInt8]] {
        var generator = SystemRandomNumberGenerator()
        var inputs: [[UInt8]] = [[], [0], [255], [1, 2, 3], Array("abcabcabcabc".utf8), [UInt8](repeating: 7, count: 1_000_000)]
        inputs.append((0..<70_000).map { _ in UInt8.random(in: 0...255, using: &generator) })
        var mixed: [UInt8] = []
        while mixed.count < 400_000 {
            if Bool.random(using: &generator) || mixed.count < 8 {
                mixed += (0..<Int.random(in: 1...40, using: &generator)).map { _ in UInt8.random(in: 0...3, using: &generator) }
            } else {
                let distance = Int.random(in: 1...min(mixed.count, 40_000), using: &generator)
                for _ in 0..<Int.random(in: 1...600, using: &generator) { mixed.append(mixed[mixed.count - distance]) }
            }
        }
        inputs.append(mixed)
        // A 32,768-byte random block repeated: the longest distance DEFLATE has, and one more byte (out of reach).
        let block = (0..<32_768).map { _ in UInt8.random(in: 0...255, using: &generator) }
        inputs.append(block + block + block)
        inputs.append(block + [9] + block)
        inputs.append(Array(String(repeating: "PageRenderer.render(id:) at Rendering/PageRenderer.swift:14\n", count: 3000).utf8))
        return inputs
    }

    @Test func pythonsZlibInflatesWhatItWrites() throws {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("gzip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(at: directory) }
        let inputs = Self.inputs()
        for (index, input) in inputs.enumerated() {
            try Data(input).write(to: URL(fileURLWithPath: "\(directory.path)/\(index).in"))
            try Data(Gzip.wrap(input)).write(to: URL(fileURLWithPath: "\(directory.path)/\(index).gz"))
        }
        // gzip.decompress checks the CRC-32 and the length too.
        let script = """
            import gzip, sys
            d = sys.argv[1]
            for i in range(int(sys.argv[2])):
                original = open(f"{d}/{i}.in", "rb").read()
                packed = open(f"{d}/{i}.gz", "rb").read()
                print(i, gzip.decompress(packed) == original, len(original), len(packed))
            """
        let result = try runCommand("python3", ["-c", script, directory.path, String(inputs.count)])
        #expect(result.status == 0, "\(result.standardError)")
        // Each line: index, whether it came back the same, the original's length, the gzip file's.
        let rows: [[String]] = result.standardOutput.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(rows.count == inputs.count, "\(result.standardOutput)")
        for row in rows {
            #expect(row.count == 4 && row[1] == "True", "input \(row)")
        }
        // Repetitive input shrinks (a run of a million bytes to about a kilobyte); random input grows by at most
        // zlib's stored blocks' few bytes.
        let sizes: [(original: Int, packed: Int)] = rows.compactMap { row in
            guard row.count == 4, let original = Int(row[2]), let packed = Int(row[3]) else { return nil }
            return (original, packed)
        }
        try #require(sizes.count == inputs.count)
        #expect(sizes[5].packed < 2_000, "\(sizes[5])")
        #expect(sizes[6].packed <= sizes[6].original + sizes[6].original / 1000 + 64, "\(sizes[6])")
        // Copies exactly 32,768 bytes back are out of zlib's reach (it keeps 262 bytes of its window for lookahead).
        #expect(sizes[8].packed <= sizes[8].original + sizes[8].original / 1000 + 64, "\(sizes[8])")
        #expect(sizes[10].packed < 2_000, "\(sizes[10])")
    }
}
