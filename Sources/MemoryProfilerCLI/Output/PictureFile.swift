import FoundationEssentials
import MemoryPlot
import MemoryProfiler
import MemoryProfilerSystem

/// Writes `mprof plot`'s pictures to the path the user named, reaching it as a shell's `>` would, and never
/// leaving a half-written picture in place of a file.
///
/// - A new name or an existing regular file: the picture goes to a temporary file in the same directory,
///   created exclusively (`O_CREAT | O_EXCL | O_NOFOLLOW`) under an unpredictable name, which is then renamed
///   over the path. It gets the existing file's permissions, owner and group (a new file: 0644 less the umask);
///   it is removed on any failure. An existing file the user may not write is refused, as `>` refuses it,
///   although the directory would allow the rename. A writable file that cannot be replaced by one just like
///   it (the directory takes no new file, or it belongs to another user and only root may give a file away)
///   is written in place, as `>` would.
/// - A symbolic link, a FIFO or a device: written through, as `>` writes (the link is followed and kept; a
///   failed write, such as `/dev/full`'s, is an error; the target may be left part-written). A FIFO without a
///   reader is an error, not a wait.
/// - A directory is refused.
enum PictureFile {
    static func write(plot: MemoryPlot, to destination: String) throws {
        let lowercased = destination.lowercased()
        if lowercased.hasSuffix(".png") {
            try writePNG(svg: plot.svg(), to: destination)
        } else if lowercased.hasSuffix(".html") || lowercased.hasSuffix(".htm") {
            try write(plot.html(), to: destination)
        } else if lowercased.hasSuffix(".svg") {
            try write(plot.svg(), to: destination)
        } else {
            throw CLIError("cannot tell the format of \(TerminalText.escaped(destination)): name it .svg, .html or .png")
        }
    }

    static func write(_ text: String, to destination: String) throws {
        var text = text
        try text.withUTF8 { try write(UnsafeRawBufferPointer($0), to: destination) }
    }

    /// Throws when `destination` is, or links to, a recording: a heap capture or a `.dat` file. No output of mprof's
    /// (a picture, a page, a profile) is ever written over one, whatever the command was told; this covers every
    /// way of naming a run's file (its `.dat` for its `.heap`, another spelling, a link) at once.
    static func checkNotARecording(_ destination: String) throws {
        // Only a regular file is opened to look: opening a FIFO or a device has effects of its own.
        guard (try? FileStatus(path: destination))?.kind == .regular,
            let descriptor = try? Descriptor.open(destination, .readOnly, options: [.nonBlocking])
        else { return }
        defer { descriptor.close() }
        guard (try? descriptor.status())?.kind == .regular else { return }
        var head = [UInt8](repeating: 0, count: 4096)
        let count = (try? head.withUnsafeMutableBytes { try descriptor.read(into: $0) }) ?? 0
        let start = head.prefix(count)
        let isRecording = HeapCapture.isCapture(header: start.prefix(8)) || Self.startsLikeADatFile(start)
        if (try? descriptor.tryLock(exclusive: true)) == false {
            throw CLIError(
                "refusing to write \(TerminalText.escaped(destination)): a recording is writing to it (mprof run or attach)")
        }
        if isRecording {
            throw CLIError(
                "refusing to write over \(TerminalText.escaped(destination)): it is a recording (mprof run's .dat or "
                    + ".heap); name another file")
        }
    }

    /// Whether `bytes`, the start of a file, read as a `.dat` recording does: after a byte order mark and blank
    /// lines or blanks, its first record's keyword (any of them) and a blank or tab.
    static func startsLikeADatFile(_ bytes: ArraySlice<UInt8>) -> Bool {
        var rest = bytes
        if rest.starts(with: [0xEF, 0xBB, 0xBF]) { rest = rest.dropFirst(3) }
        rest = rest.drop { [UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n")].contains($0) }
        return DatRecord.Keyword.allCases.contains { keyword in
            rest.starts(with: keyword.rawValue.utf8)
                && [UInt8(ascii: " "), UInt8(ascii: "\t")].contains(rest.dropFirst(keyword.rawValue.utf8.count).first ?? 0)
        }
    }

    /// Throws when `destination` exists and is one of `inputs` (the same file, by device and inode: a link or
    /// another spelling of the path counts).
    static func checkNotAnInput(_ destination: String, inputs: [String]) throws {
        guard let output = try? FileStatus(path: destination) else { return }
        for input in inputs {
            if let status = try? FileStatus(path: input), status.isSameFile(as: output) {
                throw CLIError(
                    "the output \(TerminalText.escaped(destination)) is the input \(TerminalText.escaped(input)): "
                        + "name another file with -o")
            }
        }
    }

    /// The SVG converted by `rsvg-convert` (Debian's librsvg2-bin), then written as any picture.
    static func writePNG(svg: String, to destination: String) throws {
        guard let converter = ExecutableLookup.find("rsvg-convert") else {
            throw CLIError(
                "PNG needs rsvg-convert, which is not installed (Debian and Ubuntu: apt-get install librsvg2-bin); "
                    + "write .svg or .html instead")
        }
        // The SVG goes to a private temporary file; the PNG comes back on a pipe, so that rsvg-convert opens no
        // path of ours for writing.
        let directory = Environment.value("TMPDIR").flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        let source: TemporaryFile
        do throws(SystemError) {
            source = try TemporaryFile(in: directory, permissions: 0o600)
        } catch {
            throw CLIError("cannot create a temporary file in \(TerminalText.escaped(directory)): \(error.message)")
        }
        defer { source.remove() }
        do throws(SystemError) {
            // Readable by its owner whatever the umask (777 would leave rsvg-convert, run as the same user,
            // locked out).
            try source.setPermissions(0o600)
            try source.write(svg)
            try source.close()
        } catch {
            throw CLIError("cannot write \(TerminalText.escaped(source.path)): \(error.message)")
        }
        let process = try ChildProcess.spawn(
            converter, arguments: ["--format", "png", "--background-color", "white", source.path],
            standardInput: .null, standardOutput: .pipe)
        let png = process.readOutput()
        process.closePipes()
        let termination = try process.wait()
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        guard termination == .exited(0), png.starts(with: signature) else {
            throw CLIError("rsvg-convert could not convert the plot (\(termination)); the SVG renders with: mprof plot -o plot.svg")
        }
        try png.withUnsafeBytes { try write($0, to: destination) }
    }

    /// Writes `bytes` to `destination` by the rules above.
    static func write(_ bytes: UnsafeRawBufferPointer, to destination: String) throws {
        try checkNotARecording(destination)
        let status: FileStatus
        do throws(SystemError) {
            status = try FileStatus(path: destination, followingLinks: false)
        } catch {
            guard error.isNoSuchFile else { throw failure(destination, error.errno) }
            try replace(destination, with: bytes, existing: nil)
            return
        }
        switch status.kind {
        case .regular:
            // rename(2) asks only for a writable directory; replacing the file asks what `>` asks.
            do throws(SystemError) {
                try FileSystem.checkWritable(destination)
            } catch {
                throw failure(destination, error.errno)
            }
            guard !ProfileFiles.isBeingRecorded(destination) else {
                throw CLIError(
                    "refusing to write \(TerminalText.escaped(destination)): a recording is writing to it (mprof run or attach)")
            }
            try replace(destination, with: bytes, existing: status)
        case .directory:
            throw failure(destination, SystemError.isADirectory)
        default:
            try writeThrough(destination, bytes)
        }
    }

    /// Writes a temporary file beside `destination` and renames it over it.
    private static func replace(_ destination: String, with bytes: UnsafeRawBufferPointer, existing: FileStatus?) throws {
        let temporary: TemporaryFile
        do throws(SystemError) {
            temporary = try TemporaryFile(in: directory(of: destination), permissions: 0o644)
        } catch where existing != nil && error.isPermissionDenied {
            // A writable file in a directory that takes no new file: what `>` would do is all that can be done.
            try writeThrough(destination, bytes)
            return
        } catch {
            throw failure(destination, error.errno)
        }
        var renamed = false
        defer { if !renamed { temporary.remove() } }
        var keepsOwner = true
        do throws(SystemError) {
            if let existing { keepsOwner = try temporary.takeOwnerAndMode(of: existing) }
            if keepsOwner {
                try temporary.write(bytes)
                try temporary.close()
            }
        } catch {
            throw failure(destination, error.errno)
        }
        guard keepsOwner else {
            try writeThrough(destination, bytes)
            return
        }
        do throws(SystemError) {
            try temporary.rename(to: destination)
        } catch {
            throw failure(destination, error.errno)
        }
        renamed = true
    }

    /// Opens `destination` as `>` does, following a link, and writes `bytes` to what it reaches.
    private static func writeThrough(_ destination: String, _ bytes: UnsafeRawBufferPointer) throws {
        // A FIFO's reader may go away: that is an error to report (EPIPE), not a reason to die.
        Signals.ignore(.brokenPipe)
        // Without O_NONBLOCK, opening a FIFO that nobody reads would wait for a reader for ever.
        let descriptor: Descriptor
        do throws(SystemError) {
            descriptor = try Descriptor.open(
                destination, .writeOnly, options: [.create, .truncate, .noControllingTerminal, .nonBlocking])
        } catch {
            if error.errno == SystemError.noReader, (try? FileStatus(path: destination))?.kind == .fifo {
                throw CLIError("cannot write \(TerminalText.escaped(destination)): a FIFO that no process is reading")
            }
            throw failure(destination, error.errno)
        }
        descriptor.setBlocking()
        do throws(SystemError) {
            try descriptor.writeAll(bytes)
        } catch {
            descriptor.close()
            throw failure(destination, error.errno)
        }
        do throws(SystemError) {
            try descriptor.closeReportingFailure()
        } catch {
            throw failure(destination, error.errno)
        }
    }

    /// The directory a path's last component is in: `.` for a bare name.
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    private static func failure(_ destination: String, _ code: Int32) -> CLIError {
        CLIError("cannot write \(TerminalText.escaped(destination)): \(SystemError.describe(code))")
    }
}
