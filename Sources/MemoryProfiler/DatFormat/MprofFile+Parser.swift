internal import MemoryProfilerSystem

extension MprofFile {
    /// Parses `.dat` text as it arrives, in chunks of any size: a file read piece by piece, a pipe, or a file
    /// that is still being written.
    ///
    /// A line split between two chunks is kept until its end arrives; only that part is copied.
    ///
    /// ```swift
    /// var parser = MprofFile.Parser(path: "mprofile.dat")
    /// for chunk in chunks { try chunk.withUnsafeBytes { try parser.consume($0) } }
    /// let file = try parser.finish()
    /// ```
    public struct Parser: Sendable {
        private var file: MprofFile
        private var state = ParseState()
        /// The start of a line whose end has not arrived yet.
        private var pending: [UInt8] = []

        /// Creates a parser.
        ///
        /// - Parameters:
        ///   - path: Names the file in errors.
        ///   - expectedBytes: The size of the whole text, when known, to reserve room for its samples.
        public init(path: String = "<text>", expectedBytes: Int = 0) {
            file = MprofFile(emptyAt: path)
            if expectedBytes > 0 { file.samples.reserveCapacity(min(expectedBytes / 32, 1 << 24)) }
        }

        /// Parses the lines that `bytes` completes, keeping an unfinished last line for the next call.
        ///
        /// - Throws: ``MprofFileError`` for a record that does not parse, or a line longer than
        ///   ``MprofFile/maximumLineLength``; the parser must not be used after that.
        public mutating func consume(_ bytes: UnsafeRawBufferPointer) throws(MprofFileError) {
            var rest = bytes
            if !pending.isEmpty {
                guard let newline = ByteSearch.firstIndex(of: UInt8(ascii: "\n"), in: bytes, from: 0) else {
                    pending += bytes
                    try checkPendingLength()
                    return
                }
                // A complete line: its length is checked as it is parsed.
                pending += bytes[...newline]
                try parsePending(isEnd: false)
                rest = UnsafeRawBufferPointer(rebasing: bytes[(newline + 1)...])
            }
            let consumed = try file.parse(rest, &state, isEnd: false)
            pending = Array(rest[consumed...])
            try checkPendingLength()
        }

        /// Parses the last line, which needs no line break, and returns the file.
        ///
        /// - Throws: ``MprofFileError`` when that line does not parse.
        public mutating func finish() throws(MprofFileError) -> MprofFile {
            if !pending.isEmpty { try parsePending(isEnd: true) }
            return file
        }

        private mutating func parsePending(isEnd: Bool) throws(MprofFileError) {
            let lines = pending
            pending = []
            try lines.withUnsafeBytes { bytes in
                Result { () throws(MprofFileError) in _ = try self.file.parse(bytes, &self.state, isEnd: isEnd) }
            }.get()
        }

        /// Refuses an unfinished line that is already too long. One byte more than the longest line is allowed:
        /// its carriage return, if it ends with CRLF.
        private func checkPendingLength() throws(MprofFileError) {
            guard pending.count > MprofFile.maximumLineLength + 1 else { return }
            let message = pending.withUnsafeBytes { MprofFile.tooLongMessage($0) }
            throw MprofFileError(.lineTooLong, path: file.path, line: state.lineNumber + 1, message: message)
        }
    }
}
