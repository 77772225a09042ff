@testable import MemoryProfiler
import Testing

/// The compression of finished heap captures: what goes in comes out, repetitive records shrink a lot, and damaged
/// or hostile input is an error, never a crash or an allocation the input cannot justify.
struct CaptureCompressionTests {
    static func roundTrip(_ bytes: [UInt8]) throws -> [UInt8] {
        let compressed = CaptureCompression.compress(bytes)
        #expect(CaptureCompression.isCompressed(compressed))
        return try CaptureCompression.decompress(compressed)
    }

    @Test func whatGoesInComesOut() throws {
        var generator = SystemRandomNumberGenerator()
        var inputs: [[UInt8]] = [[], [1], [1, 2, 3], [UInt8](repeating: 7, count: 100_000), Array("MPROFHP1".utf8)]
        // Random bytes (incompressible), runs, and mixtures with matches at every distance up to the window.
        inputs.append((0..<70_000).map { _ in UInt8.random(in: 0...255, using: &generator) })
        var mixed: [UInt8] = []
        while mixed.count < 300_000 {
            if Bool.random(using: &generator) || mixed.count < 8 {
                mixed += (0..<Int.random(in: 1...40, using: &generator)).map { _ in UInt8.random(in: 0...3, using: &generator) }
            } else {
                let distance = Int.random(in: 1...min(mixed.count, 70_000), using: &generator)
                let length = Int.random(in: 1...600, using: &generator)
                for _ in 0..<length { mixed.append(mixed[mixed.count - distance]) }
            }
        }
        inputs.append(mixed)
        for input in inputs {
            #expect(try Self.roundTrip(input) == input, "\(input.count) bytes")
        }
    }

    @Test func captureLikeRecordsShrinkALot() throws {
        // An allocation and its free, over and over: the shape of a churning loop's records.
        var records: [UInt8] = []
        for index in 0..<200_000 {
            records += [UInt8(ascii: "A"), 0xA0, 0x01, 0x05, UInt8(index % 3 == 0 ? 2 : 4), UInt8(ascii: "F"), 0x03]
        }
        let compressed = CaptureCompression.compress(records)
        #expect(compressed.count * 50 < records.count, "\(records.count) → \(compressed.count)")
        #expect(try CaptureCompression.decompress(compressed) == records)
    }

    @Test func damagedInputIsAnError() throws {
        let good = CaptureCompression.compress((0..<50_000).map { UInt8(truncatingIfNeeded: $0 % 251 + $0 / 1000) })
        var cases: [[UInt8]] = [
            CaptureCompression.magic,
            CaptureCompression.magic + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],  // a huge length
            CaptureCompression.magic + [10, 0x0F, 1, 2],  // a match before anything was written
            CaptureCompression.magic + [200, 0xF0] + [UInt8](repeating: 255, count: 100),  // a length past the end
        ]
        for length in stride(from: 8, to: good.count, by: 97) { cases.append(Array(good.prefix(length))) }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            var damaged = good
            damaged[Int.random(in: 8..<damaged.count, using: &generator)] ^= UInt8.random(in: 1...255, using: &generator)
            cases.append(damaged)
        }
        var errors = 0
        for input in cases {
            do {
                let output = try CaptureCompression.decompress(input)
                #expect(output.count <= input.count * 256 + 64)
            } catch {
                errors += 1
            }
        }
        // The truncations and the hand-made cases all fail; most flipped bytes do.
        #expect(errors >= 4 + (good.count - 8) / 97)
    }
}
