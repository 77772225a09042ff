import CMemoryProfilerShims

/// zlib's DEFLATE, as a zlib stream (finished heap captures) or a gzip file (pprof profiles).
public enum Zlib {
    public enum Container: Sendable {
        case zlib, gzip
    }

    /// `input` compressed at `level` (1: fastest … 9: smallest); nil only when zlib has no memory for its state.
    public static func compress(_ input: UnsafeBufferPointer<UInt8>, level: Int32 = 6, as container: Container = .zlib) -> [UInt8]? {
        let capacity = cmp_deflate_bound(input.count)
        var written = 0
        let output = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
            var length = capacity
            let status = cmp_deflate(input.baseAddress, input.count, buffer.baseAddress, &length, level, container == .gzip ? 1 : 0)
            count = status == 0 ? length : 0
            written = status == 0 ? length : -1
        }
        return written < 0 ? nil : output
    }

    /// A zlib stream compressed piece by piece, as its input becomes known.
    public final class Deflater {
        private let state: OpaquePointer
        private var failed = false

        /// nil when zlib has no memory for its state.
        public init?(level: Int32 = 6) {
            guard let state = cmp_deflater_create(level) else { return nil }
            self.state = state
        }

        deinit { cmp_deflater_destroy(state) }

        /// Compresses `input`, the next bytes of the stream; false when zlib ran out of memory (now or before).
        @discardableResult
        public func write(_ input: UnsafeBufferPointer<UInt8>) -> Bool {
            failed = failed || cmp_deflater_write(state, input.baseAddress, input.count, 0) != 0
            return !failed
        }

        /// Compresses the last bytes of the stream and returns all of it; nil when zlib ran out of memory.
        public func finish(with input: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
            failed = failed || cmp_deflater_write(state, input.baseAddress, input.count, 1) != 0
            guard !failed else { return nil }
            var length = 0
            guard let output = cmp_deflater_output(state, &length) else { return [] }
            return Array(UnsafeBufferPointer(start: output, count: length))
        }
    }

    /// Why `decompress` refused its input.
    public enum Failure: Error, Sendable, Equatable {
        case damaged, shorterThanDeclared, longerThanDeclared, bytesAfterTheEnd

        public var reason: String {
            switch self {
            case .damaged: "its compressed data is damaged"
            case .shorterThanDeclared: "its compressed data ends before the length it declares"
            case .longerThanDeclared: "its compressed data makes more than the length it declares"
            case .bytesAfterTheEnd: "bytes follow the end of its compressed data"
            }
        }
    }

    /// The `expected` bytes `input` decompresses to: exactly that many, or an error. Never writes more, whatever
    /// the input says.
    public static func decompress(_ input: UnsafeBufferPointer<UInt8>, expected: Int, from container: Container = .zlib) throws(Failure) -> [UInt8] {
        var status: Int32 = 0
        let output = [UInt8](unsafeUninitializedCapacity: expected) { buffer, count in
            status = cmp_inflate(input.baseAddress, input.count, buffer.baseAddress, expected, container == .gzip ? 1 : 0)
            // Uninitialized bytes are never handed out: on failure the array is dropped, on success all are written.
            count = status == 0 ? expected : 0
        }
        switch status {
        case 0: return output
        case CMP_INFLATE_SHORT: throw .shorterThanDeclared
        case CMP_INFLATE_LONG: throw .longerThanDeclared
        case CMP_INFLATE_TRAILING: throw .bytesAfterTheEnd
        default: throw .damaged
        }
    }
}
