internal import MemoryProfilerSystem

extension DatRecord {
    /// Parses one line of a `.dat` file.
    ///
    /// Fields are separated by blanks or tabs, any number of them; numbers are plain decimals checked against
    /// what a file can hold (see ``MprofFile``).
    ///
    /// ```swift
    /// let record = try DatRecord(parsing: "MEM 250.445312 1795585951.3997")
    /// // .memory(250.4 MiB, wallClock: 1795585951.3997)
    /// ```
    ///
    /// - Returns: Nil for a blank line and for a record type this package does not know (a word of capitals,
    ///   which readers skip, as memory_profiler does, so that newer files stay readable).
    /// - Throws: ``MprofFileError`` (with no line number) for anything else that does not parse.
    public init?(parsing line: String) throws(MprofFileError) {
        var line = line
        let result = line.withUTF8 { bytes in
            Result { () throws(ParseFailure) -> DatRecord? in try DatRecord.parse(UnsafeRawBufferPointer(bytes)) }
        }
        switch result {
        case .success(let record?): self = record
        case .success(nil): return nil
        case .failure(let failure): throw MprofFileError(failure.code, path: "<record>", line: nil, message: failure.message)
        }
    }

    /// Why a line does not parse; the reader adds the file and the line number.
    struct ParseFailure: Error {
        var code: MprofFileError.Code
        var message: String
    }

    /// Parses one line (without its line break); nil for a blank line or an unknown record type.
    static func parse(_ line: UnsafeRawBufferPointer) throws(ParseFailure) -> DatRecord? {
        var fields = DatFields(line)
        guard let kind = fields.next() else { return nil }
        let kindText = TerminalText.quoted(kind)
        func number(_ what: String, upTo maximum: Double, _ range: String) throws(ParseFailure) -> Double {
            guard let field = fields.next() else {
                throw ParseFailure(code: .malformedRecord, message: "\(kindText) is missing \(what): \"\(TerminalText.quoted(line))\"")
            }
            guard let value = DatNumber.parse(field) else {
                throw ParseFailure(
                    code: .malformedRecord, message: "\(kindText) has \"\(TerminalText.quoted(field))\" where \(what) should be")
            }
            guard value >= 0, value <= maximum else {
                throw ParseFailure(
                    code: .outOfRange,
                    message: "\(kindText) has \"\(TerminalText.quoted(field))\" where \(what) should be: \(range)")
            }
            return value + 0  // -0 is 0
        }
        func memory(_ what: String) throws(ParseFailure) -> MemorySize {
            MemorySize(mebibytes: try number(what, upTo: MprofFile.maximumMebibytes, "a number of MiB from 0 to 2^40"))
        }
        func time(_ what: String) throws(ParseFailure) -> Double {
            try number(what, upTo: MprofFile.maximumTime, "seconds since 1970 from 0 to 1e11")
        }

        guard let keyword = Keyword(rawValue: String(decoding: kind, as: UTF8.self)) else {
            // memory_profiler skips record types it does not know; so do we, for newer files.
            guard Self.isRecordType(kind) else {
                throw ParseFailure(code: .malformedRecord, message: "not a record of an mprof file: \"\(TerminalText.quoted(line))\"")
            }
            return nil
        }
        switch keyword {
        case .memory:
            return .memory(try memory("the memory in MiB"), wallClock: try time("the time"))
        case .peak:
            return .peak(try memory("the memory in MiB"), wallClock: try time("the time"))
        case .file:
            return .file(try memory("the memory in MiB"), wallClock: try time("the time"))
        case .child:
            guard let pidField = fields.next(), let pid = DatNumber.wholeNumber(pidField, upTo: Int(Int32.max)), pid > 0
            else {
                throw ParseFailure(code: .malformedRecord, message: "CHLD needs a child's PID first: \"\(TerminalText.quoted(line))\"")
            }
            let process = ProcessID(Int32(truncatingIfNeeded: pid))
            return .child(process, try memory("the memory in MiB"), wallClock: try time("the time"))
        case .function:
            guard let name = fields.next() else { throw ParseFailure(code: .malformedRecord, message: "FUNC has no function name") }
            let startMemory = try memory("the memory at the start")
            let startTime = try time("the start time")
            let endMemory = try memory("the memory at the end")
            let endTime = try time("the end time")
            var level: Int?
            if let levelField = fields.next() {
                guard let value = DatNumber.integer(levelField) else {
                    throw ParseFailure(
                        code: .malformedRecord,
                        message: "FUNC has \"\(TerminalText.quoted(levelField))\" where the nesting level should be")
                }
                guard (0...MprofFile.maximumLevel).contains(value) else {
                    throw ParseFailure(
                        code: .outOfRange,
                        message: "FUNC has \"\(TerminalText.quoted(levelField))\" where the nesting level should be: "
                            + "from 0 to \(MprofFile.maximumLevel)")
                }
                level = value
            }
            return .function(
                FunctionRecord(
                    name: String(decoding: name, as: UTF8.self), startMemory: startMemory, startWallClock: startTime,
                    endMemory: endMemory, endWallClock: endTime, level: level))
        case .commandLine:
            return .commandLine(fields.rest.map { String(decoding: $0, as: UTF8.self) } ?? "")
        case .reader:
            return .reader(fields.next().map { String(decoding: $0, as: UTF8.self) } ?? "")
        }
    }

    /// A record type is a word of capital letters, digits and `_`: anything else is not an mprof file.
    private static func isRecordType(_ word: UnsafeRawBufferPointer) -> Bool {
        !word.isEmpty && word.allSatisfy { byte in
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_")
        }
    }
}
