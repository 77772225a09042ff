@testable import MemoryProfiler
import MemoryProfilerSystem
import Testing

/// The compression of finished heap captures: what goes in comes out, repetitive records shrink by three orders of
/// magnitude, and damaged or hostile input is an error, never a crash or an allocation the input cannot justify.
struct CaptureCompressionTests {
    static func compress(_ bytes: [UInt8]) throws -> [UInt8] {
        let compressed = try #require(CaptureCompression.compress(bytes))
        #expect(CaptureCompression.isCompressed(compressed))
        return compressed
    }

    @Test func whatGoesInComesOut() throws {
        var generator = SystemRandomNumberGenerator()
        var inputs: [[UInt8]] = [[], [1], [1, 2, 3], [UInt8](repeating: 7, count: 100_000), Array("MPROFHP1".utf8)]
        // Random bytes (incompressible), runs, and mixtures with repeats at every distance, far beyond zlib's
        // 32 KiB, short and long, overlapping what they copy or not.
        inputs.append((0..<70_000).map { _ in UInt8.random(in: 0...255, using: &generator) })
        var mixed: [UInt8] = []
        while mixed.count < 3_000_000 {
            if Bool.random(using: &generator) || mixed.count < 8 {
                mixed += (0..<Int.random(in: 1...40, using: &generator)).map { _ in UInt8.random(in: 0...3, using: &generator) }
            } else {
                let distance = Int.random(in: 1...mixed.count, using: &generator)
                let length = Int.random(in: 1...(Bool.random(using: &generator) ? 600 : 20_000), using: &generator)
                for _ in 0..<length { mixed.append(mixed[mixed.count - distance]) }
            }
        }
        inputs.append(mixed)
        for input in inputs {
            #expect(try CaptureCompression.decompress(try Self.compress(input)) == input, "\(input.count) bytes")
        }
    }

    /// Given a piece at a time (as the follower compresses while the program runs): the same bytes come out, repeats
    /// are found across pieces (a piece repeating one given long before shrinks to almost nothing), and pieces of
    /// incompressible bytes stay within the length bound `decompress` holds the first pass to.
    @Test func inPiecesWhatGoesInComesOut() throws {
        var generator = SystemRandomNumberGenerator()
        let random = (0..<300_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        var period: [UInt8] = []
        for index in 0..<2_000 { period += [UInt8(ascii: "a"), UInt8(1 + index % 61), 0x13, UInt8(truncatingIfNeeded: index)] }
        let inputs: [(name: String, bytes: [UInt8])] = [
            ("random", random), ("random, then again", random + random),
            ("a period", Array([[UInt8]](repeating: period, count: 200).joined())),
        ]
        for (name, input) in inputs {
            var whole = try #require(CaptureCompression.Compressor())
            _ = input.withUnsafeBufferPointer { whole.compress($0) }
            let finishedWhole = whole.finish(with: [])
            let wholeBytes = try #require(finishedWhole)
            for pieceLimit in [1, 100, 5_000, 70_000] {
                var compressor = try #require(CaptureCompression.Compressor())
                var at = 0
                while at < input.count {
                    let end = min(input.count, at + Int.random(in: 1...pieceLimit, using: &generator))
                    _ = input[at..<end].withUnsafeBufferPointer { compressor.compress($0) }
                    at = end
                }
                #expect(compressor.records == input)
                let names: [UInt8] = Array("names".utf8)
                let finished = compressor.finish(with: names)
                let compressed = try #require(finished)
                #expect(try CaptureCompression.decompress(compressed) == input + names, "\(name), pieces up to \(pieceLimit)")
                // About as small as compressed whole (zlib frames the names as a record of their own).
                #expect(Double(compressed.count) <= Double(wholeBytes.count) * 1.05 + 256, "\(name), pieces up to \(pieceLimit): \(compressed.count) against \(wholeBytes.count) bytes whole")
            }
        }
        // Repeats across pieces: the second copy of 300 KB of random bytes costs almost nothing.
        var twice = try #require(CaptureCompression.Compressor())
        _ = random.withUnsafeBufferPointer { twice.compress($0) }
        _ = random.withUnsafeBufferPointer { twice.compress($0) }
        let finishedTwice = twice.finish(with: [])
        let compressedTwice = try #require(finishedTwice)
        #expect(compressedTwice.count < random.count + random.count / 50, "\(compressedTwice.count) bytes for two copies of \(random.count)")
    }

    @Test func captureLikeRecordsShrinkByThreeOrdersOfMagnitude() throws {
        // The stored form of a loop: allocations at 61 sites in turn, each freed 1000 allocations later, with a
        // time record now and then: a period of several hundred bytes, which zlib alone gets only about 200:1.
        var records: [UInt8] = []
        for index in 0..<1_000_000 {
            records += [UInt8(ascii: "a"), UInt8(1 + index % 61), UInt8(ascii: "f"), 0xE8, 0x07]
            if index % 50_000 == 0 { records += [UInt8(ascii: "T"), UInt8(truncatingIfNeeded: index / 50_000)] }
        }
        let compressed = try Self.compress(records)
        #expect(compressed.count * 1000 < records.count, "\(records.count) → \(compressed.count)")
        #expect(try CaptureCompression.decompress(compressed) == records)
    }

    /// A compressed capture with the given lengths and first-pass stream.
    static func made(total: Int, stream: [UInt8]) throws -> [UInt8] {
        var bytes = CaptureCompression.magic
        LEB128.append(UInt64(total), to: &bytes)
        LEB128.append(UInt64(stream.count), to: &bytes)
        return bytes + (try #require(stream.withUnsafeBufferPointer { Zlib.compress($0) }))
    }

    @Test func damagedInputIsAnError() throws {
        let original = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 % 251 + $0 / 1000) }
        let good = try Self.compress(original)
        var cases: [[UInt8]] = [
            CaptureCompression.magic,
            CaptureCompression.magic + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 1],  // a huge length
            try Self.made(total: 100, stream: [0, 64, 1]),  // a repeat before anything was made
            try Self.made(total: 200, stream: [10] + [UInt8](repeating: 1, count: 10) + [80, 11]),  // from before the start
            try Self.made(total: 100, stream: [10] + [UInt8](repeating: 1, count: 10) + [4, 1]),  // a repeat too short
            try Self.made(total: 100, stream: [10] + [UInt8](repeating: 1, count: 10) + [100, 1]),  // past the end
            try Self.made(total: 100, stream: [120] + [UInt8](repeating: 1, count: 120) + [0]),  // literals past the end
            try Self.made(total: 100, stream: [10] + [UInt8](repeating: 1, count: 10) + [0]),  // short of its length
            try Self.made(total: 10, stream: [10] + [UInt8](repeating: 1, count: 10) + [0, 0xFF]),  // an unended length
            Array("MPROFHZ1".utf8) + [10, 0xA0] + [UInt8](repeating: 1, count: 10),  // the former form
        ]
        // A stream that claims more than zlib can make from it, and one over the limit given.
        cases.append(CaptureCompression.magic + [0x80, 0x80, 0x40, 0x80, 0x80, 0x40] + good.suffix(20))
        for length in stride(from: 8, to: good.count, by: 7) { cases.append(Array(good.prefix(length))) }
        // zlib's checksum covers the data, the lengths are checked against it: every case is an error.
        for input in cases {
            #expect(throws: CaptureCompression.Damaged.self, "\(input.prefix(24))") { try CaptureCompression.decompress(input) }
        }
        // A byte changed anywhere: an error, or — where the change touched only bits that carry nothing (the padding
        // after DEFLATE's last block, zlib's compression-level hint) — the very bytes compressed. Never other bytes.
        var generator = SystemRandomNumberGenerator()
        var detected = 0
        for _ in 0..<300 {
            var damaged = good
            let offset = Int.random(in: 8..<damaged.count, using: &generator)
            damaged[offset] ^= UInt8.random(in: 1...255, using: &generator)
            do {
                let read = try CaptureCompression.decompress(damaged)
                #expect(read == original, "a change at byte \(offset) of \(damaged.count) read as other bytes")
            } catch {
                detected += 1
            }
        }
        #expect(detected >= 290, "only \(detected) of 300 changed bytes were errors")
        #expect(throws: CaptureCompression.Damaged.self) { try CaptureCompression.decompress(good, limit: 100_000) }
        do {
            _ = try CaptureCompression.decompress(Array("MPROFHZ1".utf8) + [1, 0x10, 1])
        } catch {
            #expect(error.reason.contains("earlier mprof"), "\(error.reason)")
        }
    }
}
