#if os(Linux)
internal import MemoryProfilerSystem

// The names section: records mprof appends to a capture after the run, while the program's files are still the
// ones that ran, so that the capture can be read later, elsewhere, or after a rebuild, without llvm-symbolizer.
//
//   'N'  frames      v return address, v count, then per frame (innermost first): string function, string file
//                    (empty: none), v line (0: none), v flags (1 inlined, 2 system code), string module
//   'Z'  type name   v type number, string name
//   'W'  note        string: what naming could not do
//
// The section follows the hook's last record; writing it again replaces it.

extension HeapSymbols {
    /// The names section's records.
    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        func number(_ value: UInt64) { LEB128.append(value, to: &bytes) }
        func string(_ text: String) { LEB128.appendString(text, to: &bytes) }
        for (address, frames) in frames.sorted(by: { $0.key < $1.key }) {
            bytes.append(UInt8(ascii: "N"))
            number(address)
            number(UInt64(min(frames.count, 256)))
            for frame in frames.prefix(256) {
                string(frame.function)
                string(frame.file ?? "")
                number(UInt64(max(0, min(frame.line ?? 0, 100_000_000))))
                number((frame.isInlined ? 1 : 0) | (frame.isSystem ? 2 : 0))
                string(frame.module)
            }
        }
        for (type, name) in typeNames.sorted(by: { $0.key < $1.key }) {
            bytes.append(UInt8(ascii: "Z"))
            number(UInt64(type))
            string(name)
        }
        for note in notes {
            bytes.append(UInt8(ascii: "W"))
            string(note)
        }
        return bytes
    }
}

/// The names a naming thread found, read once it has ended (`join` orders the two).
private final class Naming: @unchecked Sendable {
    var symbols: HeapSymbols?
}

extension HeapSymbolizer {
    /// Names the addresses and types of the capture at `path`, stores the names in it (replacing any stored
    /// before), writes it in its stored form (allocation sites in place of addresses) and compresses it (see
    /// `CaptureCompression`), so that reading it later needs neither the tools nor
    /// the program's files as they were, and takes little room. A capture cut short (a killed program) is cut back
    /// to its last whole record. The file is replaced in one step: until then it is left as it was.
    ///
    /// - Parameters:
    ///   - ending: How the program ended, as its parent saw it, for a capture the hook could not finish and that
    ///     says nothing of why (the program made the `exit_group` system call itself, skipping every exit
    ///     handler): stored in the capture as the reason it stops where it does. Ignored for any other capture.
    ///   - follower: What followed the capture while the program ran (its stored form so far), once the program
    ///     has ended: the capture is not replayed again. When it gave up, the capture is read from its file.
    ///   - prenamed: What named the capture's addresses while the program ran: only the rest is asked now.
    /// - Returns: The names.
    /// - Throws: ``MemoryError``: the file is not a capture, or cannot be read or written.
    @discardableResult
    public func storeNames(
        inCaptureAt path: String, ending: String? = nil, following follower: HeapCaptureFollower? = nil,
        prenamed: HeapPreNamer? = nil
    ) throws(MemoryError) -> HeapSymbols {
        // Ended whatever happens (its tool is a process of ours); once naming has taken its names, this does nothing.
        defer { prenamed?.cancel() }
        // Read while the program ran, when a follower could; otherwise now.
        let followed = follower?.finish()
        var bytes: [UInt8] = []
        let capture: HeapCapture
        if let followed {
            capture = followed.capture
        } else {
            bytes = try HeapCapture.readBytes(path)
            capture = try HeapCapture(bytes: bytes, name: path, namesOnly: true)
        }
        // Naming waits on other processes (llvm-symbolizer, swift-demangle): it runs on a thread of its own while
        // this one writes the records in their stored form and compresses them.
        let naming = Naming()
        let namer = try? DedicatedThread.start { [self] in
            naming.symbols = symbolize(capture, usingStoredNames: false, prenamed: prenamed)
        }
        // How a program whose capture has no end ended, as its parent saw it: stored where a killed program's
        // capture would say nothing.
        var endingRecord: [UInt8] = []
        if let ending, !capture.summary.finishedNormally, capture.summary.stoppedEarlyBecause == nil,
            capture.summary.replacedBy == nil
        {
            endingRecord = HeapCaptureCondition.record(kind: HeapCaptureCondition.stoppedEarly, value: 0, text: ending)
        }
        // The stored form (allocation sites and numbers in place of addresses), compressed (by the follower, as
        // the program ran); then the names.
        let stored: Result<[UInt8], HeapCaptureReader.Failure>
        var compressor: CaptureCompression.Compressor?
        if let followed {
            compressor = followed.stored
            stored = .success(endingRecord)
        } else {
            compressor = CaptureCompression.Compressor()
            bytes.removeSubrange(capture.eventsEnd...)
            bytes += endingRecord
            stored = bytes.withUnsafeBufferPointer { buffer -> Result<[UInt8], HeapCaptureReader.Failure> in
                var reader = HeapCaptureReader(transcribing: buffer)
                return Result { () throws(HeapCaptureReader.Failure) in
                    _ = try reader.replay()
                    return reader.transcript ?? []
                }
            }
            bytes = []
        }
        if case .success(let records) = stored { _ = records.withUnsafeBufferPointer { compressor?.compress($0) } }
        if let namer { namer.join() } else { naming.symbols = symbolize(capture, usingStoredNames: false, prenamed: prenamed) }
        let symbols = naming.symbols ?? HeapSymbols(frames: [:], typeNames: [:], notes: [])
        if case .failure(let error) = stored {
            throw MemoryError(
                .unexpectedFormat, "\(TerminalText.escaped(path)) is not a readable heap capture: \(error.reason)"
                    + (error.offset.map { " (at byte \($0))" } ?? ""))
        }
        guard let finished = compressor?.finish(with: symbols.encoded()) else {
            throw MemoryError(.systemCall, "cannot compress \(TerminalText.escaped(path)): out of memory")
        }
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) }.map { $0.isEmpty ? "/" : $0 } ?? "."
        do throws(SystemError) {
            let status = try FileStatus(path: path)
            let file = try TemporaryFile(in: directory, permissions: 0o600)
            do throws(SystemError) {
                try finished.withUnsafeBytes { buffer in Result { () throws(SystemError) in try file.write(buffer) } }.get()
                _ = try file.takeOwnerAndMode(of: status)
                try file.close()
                try file.rename(to: path)
            } catch {
                file.remove()
                throw error
            }
        } catch {
            throw MemoryError(.systemCall, "cannot store names in \(TerminalText.escaped(path)): \(error.message)", errno: error.errno)
        }
        return symbols
    }
}
#endif
