/// The compression of finished heap captures: a byte-oriented LZ77 in the manner of LZ4 (sequences of literals and
/// matches within the last 64 KiB), written for this package because mprof is a static executable and the system's
/// zlib cannot be assumed. Capture records repeat (the same sizes, stacks and address steps over and over), so it
/// shrinks them 70–230× at a few hundred MB/s.
///
/// A compressed capture is `MPROFHZ1`, the original length (LEB128), then sequences. A sequence is a token byte
/// (high 4 bits: literal count, low 4 bits: match length − 4; 15 in either means more follows as bytes of 255 and a
/// last one below 255), the literals, then, unless the output is complete, the match's distance back as two bytes,
/// little-endian (1…65535).
enum CaptureCompression {
    static let magic = Array("MPROFHZ1".utf8)
    private static let minimumMatch = 4
    private static let window = 65535

    /// Compresses `input` into the compressed form, magic and length included.
    static func compress(_ input: [UInt8]) -> [UInt8] {
        var output = magic
        var length = UInt64(input.count)
        while length >= 0x80 {
            output.append(UInt8(truncatingIfNeeded: length) | 0x80)
            length >>= 7
        }
        output.append(UInt8(length))
        output.reserveCapacity(output.count + input.count / 32 + 64)
        input.withUnsafeBufferPointer { source in
            var table = [Int32](repeating: -1, count: 1 << 16)
            var position = 0, literalStart = 0
            let end = source.count
            @inline(__always) func word(_ at: Int) -> UInt32 {
                UInt32(source[at]) | UInt32(source[at + 1]) << 8 | UInt32(source[at + 2]) << 16 | UInt32(source[at + 3]) << 24
            }
            func appendLength(_ value: Int) {
                var rest = value
                while rest >= 255 {
                    output.append(255)
                    rest -= 255
                }
                output.append(UInt8(rest))
            }
            func emit(literalsUpTo literalEnd: Int, matchLength: Int, distance: Int) {
                let literals = literalEnd - literalStart
                let matchCode = matchLength == 0 ? 0 : matchLength - minimumMatch
                output.append(UInt8(min(literals, 15) << 4 | min(matchCode, 15)))
                if literals >= 15 { appendLength(literals - 15) }
                output.append(contentsOf: source[literalStart..<literalEnd])
                if matchLength > 0 {
                    output.append(UInt8(truncatingIfNeeded: distance))
                    output.append(UInt8(truncatingIfNeeded: distance >> 8))
                    if matchCode >= 15 { appendLength(matchCode - 15) }
                }
            }
            while position + minimumMatch <= end {
                let value = word(position)
                let slot = Int((value &* 2_654_435_761) >> 16)
                let candidate = Int(table[slot])
                table[slot] = Int32(truncatingIfNeeded: position)
                if candidate >= 0, position - candidate <= window, word(candidate) == value {
                    var length = minimumMatch
                    while position + length < end && source[candidate + length] == source[position + length] { length += 1 }
                    emit(literalsUpTo: position, matchLength: length, distance: position - candidate)
                    position += length
                    literalStart = position
                } else {
                    position += 1
                }
            }
            if literalStart < end || end == 0 { emit(literalsUpTo: end, matchLength: 0, distance: 0) }
        }
        return output
    }

    struct Damaged: Error {
        var reason: String
    }

    /// Whether `bytes` start as a compressed capture.
    static func isCompressed(_ bytes: [UInt8]) -> Bool { bytes.starts(with: magic) }

    /// The original bytes of a compressed capture, if there are at most `limit` of them. Every length and
    /// distance is checked against what is there.
    static func decompress(_ bytes: [UInt8], limit: Int = .max) throws(Damaged) -> [UInt8] {
        try bytes.withUnsafeBufferPointer { (input) throws(Damaged) -> [UInt8] in
            var at = magic.count
            var declared: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard at < input.count, shift < 64 else { throw Damaged(reason: "the compressed capture has no length") }
                let byte = input[at]
                at += 1
                declared |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { break }
                shift += 7
            }
            // Each input byte makes at most 255 + a few output bytes: a larger claim is damage, not data.
            guard declared <= UInt64(input.count) * 256 + 64, declared <= 1 << 40 else {
                throw Damaged(reason: "the compressed capture claims \(declared) bytes from \(input.count)")
            }
            guard declared <= UInt64(limit) else {
                throw Damaged(reason: "it would take \(declared >> 20) MiB to read, more than the \(limit >> 20) MiB mprof may take (a quarter of the memory)")
            }
            let total = Int(declared)
            var output = [UInt8](repeating: 0, count: total)
            try output.withUnsafeMutableBufferPointer { (destination) throws(Damaged) in
                var written = 0
                func length(_ start: Int) throws(Damaged) -> Int {
                    var value = start
                    guard start == 15 else { return value }
                    while true {
                        guard at < input.count else { throw Damaged(reason: "a length runs past the end") }
                        let byte = input[at]
                        at += 1
                        value += Int(byte)
                        guard value <= total else { throw Damaged(reason: "a length longer than the capture") }
                        if byte != 255 { return value }
                    }
                }
                while written < total || at < input.count {
                    guard at < input.count else { throw Damaged(reason: "the compressed capture ends early") }
                    let token = input[at]
                    at += 1
                    let literals = try length(Int(token >> 4))
                    guard literals <= input.count - at, literals <= total - written else {
                        throw Damaged(reason: "literals past the end")
                    }
                    for index in 0..<literals { destination[written + index] = input[at + index] }
                    at += literals
                    written += literals
                    if written == total && at == input.count { break }
                    guard at + 2 <= input.count else { throw Damaged(reason: "a match without its distance") }
                    let distance = Int(input[at]) | Int(input[at + 1]) << 8
                    at += 2
                    let match = try length(Int(token & 0x0F)) + minimumMatch
                    guard distance >= 1, distance <= written, match <= total - written else {
                        throw Damaged(reason: "a match outside the capture")
                    }
                    // Byte by byte: a match may overlap what it copies (a run).
                    for index in 0..<match { destination[written + index] = destination[written + index - distance] }
                    written += match
                }
            }
            return output
        }
    }
}
