#if os(Linux)
internal import MemoryProfilerSystem

/// The compression of finished heap captures: long repeats first, then zlib.
///
/// A capture in its stored form (see `HeapCaptureReader.Transcript`) is a stream of short records that repeat in
/// long runs: a loop that allocates the same sizes from the same sites makes the same bytes, period after period,
/// and a server makes about the same bytes for every request. zlib alone sees 32 KiB back and copies at most 258
/// bytes at a time, so it stops near 200:1 on such runs; a first pass that replaces every repeat of 64 bytes or more
/// anywhere earlier in the file by its distance and length (in the manner of rzip, or zstd's long-distance matching)
/// leaves zlib the parts that differ.
///
/// A compressed capture is `MPROFHZ2`, the capture's length (LEB128), the length of the first pass's output
/// (LEB128), then that output as a zlib stream. The first pass's output is a sequence of: a literal count (LEB128),
/// that many bytes, a match length (LEB128; 0: none, otherwise 64 or more) and, for a match, its distance back
/// (LEB128, 1 to the bytes made so far; a match may overlap what it copies). zlib at level 4: on a server's
/// capture about 9 % larger than at level 6, in a third of the time (what a user waits for after Ctrl-C).
enum CaptureCompression {
    static let magic = Array("MPROFHZ2".utf8)
    /// What mprof 0.x before the stored form wrote (an LZ4-like pass over the hook's records); no longer read.
    static let formerMagic = Array("MPROFHZ1".utf8)

    /// Repeats shorter than this are left to zlib.
    private static let minimumMatch = 64
    /// The bytes hashed to find a repeat; a repeat is found when one of its starts at a multiple of `anchorStep`
    /// was hashed before (and its slot not taken since).
    private static let block = 32
    private static let anchorStep = 16

    struct Damaged: Error {
        var reason: String
    }

    /// `input` in compressed form, magic and lengths included; nil when zlib has no memory.
    static func compress(_ input: [UInt8]) -> [UInt8]? {
        guard var compressor = Compressor() else { return nil }
        _ = input.withUnsafeBufferPointer { compressor.compress($0) }
        return compressor.finish(with: [])
    }

    /// Compresses a capture as its stored form is made: records given a piece at a time (while the program runs,
    /// by the follower), searched for long repeats of anything given before and compressed as they come, then a
    /// last part (the names section) compressed as it is. What is left at the end is the last piece, not the run.
    struct Compressor {
        private let deflater: Zlib.Deflater
        private var repeats = LongRepeats()
        private var streamLength = 0

        init?() {
            guard let deflater = Zlib.Deflater(level: 4) else { return nil }
            self.deflater = deflater
        }

        /// Every byte given so far: the records in their stored form (what a reader of the capture gets back).
        var records: [UInt8] { repeats.history }

        /// There was no memory to keep what was given: the compressor takes nothing more, and `finish` fails.
        private(set) var failed = false

        /// Adds the next records; false (and nothing more is taken) when there is no memory for them.
        @discardableResult
        mutating func compress(_ records: UnsafeBufferPointer<UInt8>) -> Bool {
            guard !failed, repeats.append(records) else {
                failed = true
                return false
            }
            flush(final: false)
            return true
        }

        /// The whole compressed capture, `last` included; nil when zlib ran out of memory.
        mutating func finish(with last: [UInt8]) -> [UInt8]? {
            guard !failed else { return nil }
            flush(final: true)
            var sequence: [UInt8] = []
            if !last.isEmpty {
                LEB128.append(UInt64(last.count), to: &sequence)
                sequence += last
                LEB128.append(0, to: &sequence)
            }
            streamLength += sequence.count
            guard let packed = sequence.withUnsafeBufferPointer({ deflater.finish(with: $0) }) else { return nil }
            var output = magic
            LEB128.append(UInt64(repeats.history.count + last.count), to: &output)
            LEB128.append(UInt64(streamLength), to: &output)
            return output + packed
        }

        private mutating func flush(final: Bool) {
            // The first pass's output is never much longer than what it has not written yet.
            let room = repeats.unwritten + 1024
            guard !failed, ProcessMemory.canAllocate(bytes: room) else {
                failed = true
                return
            }
            var stream: [UInt8] = []
            stream.reserveCapacity(room)
            repeats.search(final: final, to: &stream)
            guard !stream.isEmpty else { return }
            stream.withUnsafeBufferPointer { _ = deflater.write($0) }
            streamLength += stream.count
        }
    }

    /// The first pass: literals and long repeats, found by a rolling hash of `block` bytes at every position
    /// against a table of earlier positions (every `anchorStep`-th), over input that may come a piece at a time: a
    /// repeat may be of anything given before, and one that reaches the end of what is there ends there.
    struct LongRepeats {
        /// Every byte given.
        private(set) var history: [UInt8] = []
        /// 64 Ki slots (256 KiB): the table is read at every byte, and stays in the cache (an older anchor is
        /// forgotten when a newer one takes its slot). Positions past 2^31 are not remembered (a capture of more
        /// than 2 GiB gains on its first 2 only).
        private static let bits = 16
        private var table = [Int32](repeating: -1, count: 1 << bits)
        /// Where the literals not yet written start, and the next position to look at.
        private var literalStart = 0, position = 0
        /// Bytes given but not yet searched (searching is done in pieces of at least `piece`).
        private var unsearched: Int { history.count - position }
        /// Bytes given but not yet written out, as literals or repeats.
        var unwritten: Int { history.count - literalStart }
        /// The smallest piece searched before the end: literals are written out at the end of a piece only when
        /// there are `piece` of them, so that the stream is never more than a byte per 10 KiB longer than its input
        /// (each such write costs a few bytes; see `decompress`).
        static let piece = 64 << 10

        /// Adds `bytes` to what is searched; false when there is no memory for them (checked first: a Swift
        /// allocation that fails ends the process).
        mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
            let needed = history.count + bytes.count
            if needed > history.capacity, !ProcessMemory.canAllocate(bytes: max(history.capacity * 2, needed) + needed / 2) {
                return false
            }
            history.append(contentsOf: bytes)
            return true
        }

        /// Writes the literals and repeats found in what was given since the last search, if there is a piece of
        /// it or this is the end (`final`: then everything is written out).
        mutating func search(final: Bool, to stream: inout [UInt8]) {
            guard final || unsearched >= Self.piece else { return }
            let count = history.count
            let bits = Self.bits
            history.withUnsafeBufferPointer { source in
                table.withUnsafeMutableBufferPointer { table in
                    func emit(literalsUpTo end: Int, matchLength: Int, distance: Int) {
                        LEB128.append(UInt64(end - literalStart), to: &stream)
                        stream.append(contentsOf: UnsafeBufferPointer(rebasing: source[literalStart..<end]))
                        LEB128.append(UInt64(matchLength), to: &stream)
                        if matchLength > 0 { LEB128.append(UInt64(distance), to: &stream) }
                        literalStart = end + matchLength
                    }
                    guard let base = source.baseAddress else { return }
                    let multiplier: UInt64 = 0x100_0000_01B3
                    var outgoing: UInt64 = 1  // multiplier^block: the weight of the byte leaving the window
                    for _ in 0..<block { outgoing = outgoing &* multiplier }
                    func hash(at position: Int) -> UInt64 {
                        var value: UInt64 = 0
                        for index in position..<position + block { value = value &* multiplier &+ UInt64(source[index]) }
                        return value
                    }
                    var rolling = position + block <= count ? hash(at: position) : 0
                    while position + block <= count {
                        let slot = Int(truncatingIfNeeded: (rolling &* 0x9E37_79B9_7F4A_7C15) >> UInt64(64 - bits))
                        let candidate = Int(table[slot])
                        if position % anchorStep == 0, position < Int(Int32.max) { table[slot] = Int32(position) }
                        if candidate >= 0, candidate < position, sameBlock(base + candidate, base + position) {
                            var start = position, from = candidate
                            while start > literalStart, from > 0, source[start - 1] == source[from - 1] {
                                start -= 1
                                from -= 1
                            }
                            var end = position + block, fromEnd = candidate + block
                            while end < count, source[end] == source[fromEnd] {
                                end += 1
                                fromEnd += 1
                            }
                            if end - start >= minimumMatch {
                                emit(literalsUpTo: start, matchLength: end - start, distance: start - from)
                                position = end
                                if position + block <= count { rolling = hash(at: position) }
                                continue
                            }
                        }
                        if position + block < count {
                            rolling = rolling &* multiplier &+ UInt64(source[position + block]) &- UInt64(source[position]) &* outgoing
                        }
                        position += 1
                    }
                    // The end of what is there: the search goes on from `position` (fewer than `block` bytes
                    // before the end) with the next piece; literals are written out when they are a piece's worth,
                    // or at the end.
                    if final {
                        position = count
                        emit(literalsUpTo: count, matchLength: 0, distance: 0)
                    } else if position - literalStart >= Self.piece {
                        emit(literalsUpTo: position, matchLength: 0, distance: 0)
                    }
                }
            }
        }
    }

    /// Whether the `block` bytes at `first` and `second` are the same.
    @inline(__always)
    private static func sameBlock(_ first: UnsafePointer<UInt8>, _ second: UnsafePointer<UInt8>) -> Bool {
        let (a, b) = (UnsafeRawPointer(first), UnsafeRawPointer(second))
        var offset = 0
        while offset < block {
            guard a.loadUnaligned(fromByteOffset: offset, as: UInt64.self) == b.loadUnaligned(fromByteOffset: offset, as: UInt64.self) else { return false }
            offset += 8
        }
        return true
    }

    /// Whether `bytes` start as a compressed capture.
    static func isCompressed(_ bytes: [UInt8]) -> Bool { bytes.starts(with: magic) || bytes.starts(with: formerMagic) }

    /// The original bytes of a compressed capture, if there are at most `limit` of them. Every length and
    /// distance is checked against what is there before it is used.
    static func decompress(_ bytes: [UInt8], limit: Int = .max) throws(Damaged) -> [UInt8] {
        guard !bytes.starts(with: formerMagic) else {
            throw Damaged(reason: "it was compressed by an earlier mprof (MPROFHZ1), whose form this one no longer reads; record it again")
        }
        return try bytes.withUnsafeBufferPointer { (input) throws(Damaged) -> [UInt8] in
            var at = magic.count
            func number(_ what: String) throws(Damaged) -> Int {
                guard let value = try? LEB128.read(input, at: &at) else { throw Damaged(reason: "\(what) is missing or too large") }
                guard value <= 1 << 40 else { throw Damaged(reason: "\(what) is out of range (\(value))") }
                return Int(value)
            }
            let total = try number("the capture's length")
            let streamLength = try number("the length of its repeats")
            guard total <= limit else {
                throw Damaged(reason: "it would take \(total >> 20) MiB to read, more than the \(limit >> 20) MiB mprof may take (a quarter of the memory, or of the address space RLIMIT_AS leaves)")
            }
            // The stream and the capture are made at full size: room for both first (a Swift allocation that fails
            // ends the process).
            guard ProcessMemory.canAllocate(bytes: streamLength + total) else {
                throw Damaged(reason: "there is no memory to read it (\((streamLength + total) >> 20) MiB)")
            }
            // The first pass never makes more than a few bytes over what it was given (a byte per 10 KiB, see
            // LongRepeats.piece); zlib never more than about 1,032 bytes from one.
            guard streamLength <= total + total / 8192 + 32, streamLength <= (input.count - at) * 1100 + 1024 else {
                throw Damaged(reason: "its lengths (\(total) and \(streamLength) bytes from \(input.count)) do not fit together")
            }
            let stream: [UInt8]
            do throws(Zlib.Failure) {
                stream = try Zlib.decompress(UnsafeBufferPointer(rebasing: input[at...]), expected: streamLength)
            } catch {
                throw Damaged(reason: error.reason)
            }
            let original = try expandLongRepeats(stream, to: total)
            // Compressed once: what comes out is a capture, never another compressed one (whose length would not
            // have been held to the limit).
            guard !isCompressed(original) else { throw Damaged(reason: "it holds another compressed capture") }
            return original
        }
    }

    private static func expandLongRepeats(_ stream: [UInt8], to total: Int) throws(Damaged) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: total)
        try stream.withUnsafeBufferPointer { (input) throws(Damaged) in
            try output.withUnsafeMutableBufferPointer { (destination) throws(Damaged) in
                var at = 0, written = 0
                func number() throws(Damaged) -> Int {
                    guard let value = try? LEB128.read(input, at: &at), value < 1 << 42 else {
                        throw Damaged(reason: "a length in its repeats is missing or too large")
                    }
                    return Int(value)
                }
                while at < input.count {
                    let literals = try number()
                    guard literals <= input.count - at, literals <= total - written else { throw Damaged(reason: "literals past the end") }
                    if literals > 0, let from = input.baseAddress, let to = destination.baseAddress {
                        (to + written).update(from: from + at, count: literals)
                    }
                    at += literals
                    written += literals
                    let length = try number()
                    guard length > 0 else { continue }
                    let distance = try number()
                    guard length >= minimumMatch, length <= total - written, distance >= 1, distance <= written else {
                        throw Damaged(reason: "a repeat outside the capture")
                    }
                    // A repeat may overlap what it copies (a run): copy what is there, then what that made.
                    var copied = 0
                    while copied < length, let base = destination.baseAddress {
                        let piece = min(length - copied, distance + copied)
                        (base + written + copied).update(from: base + written - distance, count: piece)
                        copied += piece
                    }
                    written += length
                }
                guard written == total else { throw Damaged(reason: "it ends \(total - written) bytes short of its length") }
            }
        }
        return output
    }
}
#endif
