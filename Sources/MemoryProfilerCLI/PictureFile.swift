import Glibc
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

    /// Throws when `destination` exists and is one of `inputs` (the same file, by device and inode: a link or
    /// another spelling of the path counts).
    static func checkNotAnInput(_ destination: String, inputs: [String]) throws {
        var output = stat()
        guard stat(destination, &output) == 0 else { return }
        for input in inputs {
            var status = stat()
            if stat(input, &status) == 0, status.st_dev == output.st_dev, status.st_ino == output.st_ino {
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
        let directory = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        let source: TemporaryFile
        do throws(Errno) {
            source = try TemporaryFile(in: directory, mode: 0o600)
        } catch {
            throw CLIError("cannot create a temporary file in \(TerminalText.escaped(directory)): \(SystemError.describe(error.code))")
        }
        defer { source.remove() }
        // Readable by its owner whatever the umask (777 would leave rsvg-convert, run as the same user, locked out).
        if let descriptor = source.fileDescriptor { _ = fchmod(descriptor, 0o600) }
        do throws(Errno) {
            try source.write(svg)
            try source.close()
        } catch {
            throw CLIError("cannot write \(TerminalText.escaped(source.path)): \(SystemError.describe(error.code))")
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
        var status = stat()
        guard lstat(destination, &status) == 0 else {
            let code = errno
            guard code == ENOENT else { throw failure(destination, code) }
            try replace(destination, with: bytes, existing: nil)
            return
        }
        switch status.st_mode & S_IFMT {
        case S_IFREG:
            // rename(2) asks only for a writable directory; replacing the file asks what `>` asks.
            guard faccessat(AT_FDCWD, destination, W_OK, AT_EACCESS) == 0 else { throw failure(destination, errno) }
            guard !ProfileFiles.isBeingRecorded(destination) else {
                throw CLIError(
                    "refusing to write \(TerminalText.escaped(destination)): a recording is writing to it (mprof run or attach)")
            }
            try replace(destination, with: bytes, existing: status)
        case S_IFDIR:
            throw failure(destination, EISDIR)
        default:
            try writeThrough(destination, bytes)
        }
    }

    /// Writes a temporary file beside `destination` and renames it over it.
    private static func replace(_ destination: String, with bytes: UnsafeRawBufferPointer, existing: stat?) throws {
        let temporary: TemporaryFile
        do throws(Errno) {
            temporary = try TemporaryFile(in: directory(of: destination), mode: 0o644)
        } catch where existing != nil && (error.code == EACCES || error.code == EPERM) {
            // A writable file in a directory that takes no new file: what `>` would do is all that can be done.
            try writeThrough(destination, bytes)
            return
        } catch {
            throw failure(destination, error.code)
        }
        var renamed = false
        defer { if !renamed { temporary.remove() } }
        var keepsOwner = true
        do throws(Errno) {
            if let existing { keepsOwner = try temporary.takeOwnerAndMode(of: existing) }
            if keepsOwner {
                try temporary.write(bytes)
                try temporary.close()
            }
        } catch {
            throw failure(destination, error.code)
        }
        guard keepsOwner else {
            try writeThrough(destination, bytes)
            return
        }
        guard rename(temporary.path, destination) == 0 else { throw failure(destination, errno) }
        renamed = true
    }

    /// Opens `destination` as `>` does, following a link, and writes `bytes` to what it reaches.
    private static func writeThrough(_ destination: String, _ bytes: UnsafeRawBufferPointer) throws {
        // A FIFO's reader may go away: that is an error to report (EPIPE), not a reason to die.
        signal(SIGPIPE, SIG_IGN)
        var descriptor: Int32
        // Without O_NONBLOCK, opening a FIFO that nobody reads would wait for a reader for ever.
        repeat {
            descriptor = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0o644)
        } while descriptor < 0 && errno == EINTR
        guard descriptor >= 0 else {
            let code = errno
            var status = stat()
            if code == ENXIO, stat(destination, &status) == 0, status.st_mode & S_IFMT == S_IFIFO {
                throw CLIError("cannot write \(TerminalText.escaped(destination)): a FIFO that no process is reading")
            }
            throw failure(destination, code)
        }
        let file = OpenFile(descriptor: descriptor)
        let flags = fcntl(descriptor, F_GETFL)
        if flags >= 0 { _ = fcntl(descriptor, F_SETFL, flags & ~O_NONBLOCK) }
        do throws(Errno) {
            try file.write(bytes)
            try file.close()
        } catch {
            throw failure(destination, error.code)
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

/// An error number from a failed system call.
struct Errno: Error {
    var code: Int32
}

/// A file descriptor opened for writing, closed once.
class OpenFile {
    /// Nil once closed.
    private var descriptor: Int32?

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit {
        if let descriptor { _ = systemClose(descriptor) }
    }

    /// Writes all of `bytes`; an interrupted write is retried, a FIFO that is full is waited for.
    ///
    /// The corresponding C function is `write`.
    func write(_ bytes: UnsafeRawBufferPointer) throws(Errno) {
        guard let descriptor, var next = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let written = systemWrite(descriptor, next, left)
            if written < 0 {
                let code = errno
                if code == EINTR { continue }
                if code == EAGAIN {
                    var request = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&request, 1, -1)
                    continue
                }
                throw Errno(code: code)
            }
            next += written
            left -= written
        }
    }

    /// Writes all of `text`, as UTF-8.
    func write(_ text: String) throws(Errno) {
        var text = text
        let failure = text.withUTF8 { bytes -> Errno? in
            do throws(Errno) {
                try write(UnsafeRawBufferPointer(bytes))
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }

    /// Closes the file, reporting what the file system reports only then (a full disk on NFS).
    func close() throws(Errno) {
        guard let descriptor else { return }
        self.descriptor = nil
        // Linux closes the descriptor even when close fails: never retried.
        guard systemClose(descriptor) == 0 else { throw Errno(code: errno) }
    }

    fileprivate var fileDescriptor: Int32? { descriptor }
}

/// A new file under an unpredictable name, created exclusively: nothing that was at the name before, a
/// symbolic link above all, can be written through.
final class TemporaryFile: OpenFile {
    let path: String

    /// Creates `.mprof-<random>.partial` in `directory` with `mode` (less the umask).
    ///
    /// The corresponding C function is `open` with `O_CREAT | O_EXCL | O_NOFOLLOW`.
    init(in directory: String, mode: mode_t) throws(Errno) {
        let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<100 {
            let name = String((0..<16).map { _ in letters[Int(generator.next() % UInt64(letters.count))] })
            let path = "\(directory)/.mprof-\(name).partial"
            let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            if descriptor >= 0 {
                self.path = path
                super.init(descriptor: descriptor)
                return
            }
            let code = errno
            guard code == EEXIST || code == EINTR else { throw Errno(code: code) }
        }
        throw Errno(code: EEXIST)
    }

    /// Gives the file `existing`'s owner, group and permission bits: the picture replaces a file, not its
    /// access rights.
    ///
    /// - Returns: False when the owner or group cannot be given (only root may give a file away, and only
    ///   to a group the user is in).
    func takeOwnerAndMode(of existing: stat) throws(Errno) -> Bool {
        guard let descriptor = fileDescriptor else { return false }
        if existing.st_uid != geteuid() || existing.st_gid != getegid() {
            guard fchown(descriptor, existing.st_uid, existing.st_gid) == 0 else {
                let code = errno
                guard code == EPERM else { throw Errno(code: code) }
                return false
            }
        }
        guard fchmod(descriptor, existing.st_mode & 0o777) == 0 else { throw Errno(code: errno) }
        return true
    }

    /// Removes the file (once renamed, its name is another file's: call this only before).
    func remove() {
        unlink(path)
    }
}

private let systemWrite = write
private let systemClose = close
