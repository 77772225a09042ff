import Glibc

/// Appends whole lines to a `.dat` file that other processes may append to at the same time.
///
/// Each line goes out in one `write` on a descriptor opened with `O_APPEND`, so lines from several writers
/// interleave but never mix.
final class DatAppender: Sendable {
    let path: String
    /// True when this appender created the file (it did not exist before).
    let created: Bool
    private let descriptor: Int32

    /// Opens `path` for appending, creating it; nil (with a message on standard error unless `quiet`) when
    /// that fails, `errno` telling why. With `exclusive`, an existing file is an error (`EEXIST`): the check and
    /// the creation are one step, so two writers never share a file they both meant to create.
    init?(path: String, quiet: Bool = false, exclusive: Bool = false) {
        var created = true
        var descriptor = Self.open(path, O_CREAT | O_EXCL)
        if descriptor < 0 && errno == EEXIST && !exclusive {
            created = false
            descriptor = Self.open(path, 0)
            // Deleted between the two calls: create it after all.
            if descriptor < 0 && errno == ENOENT {
                created = true
                descriptor = Self.open(path, O_CREAT)
            }
        }
        guard descriptor >= 0 else {
            if quiet { return nil }
            let reason = ErrnoText.describe(errno)
            StandardError.write("swift-memory-profiler: cannot append to \(path): \(reason); keeping records in memory")
            return nil
        }
        self.path = path
        self.created = created
        self.descriptor = descriptor
        var status = stat()
        initialSize = fstat(descriptor, &status) == 0 ? Int(status.st_size) : 0
        // A shared lock while the file is being written: `mprof rm` and `clean` take an exclusive one, and so
        // refuse to remove a recording in progress. Advisory, and only on the open file: it never blocks a write.
        _ = flock(descriptor, LOCK_SH | LOCK_NB)
    }

    /// The file's size when it was opened.
    let initialSize: Int

    /// True when the file has been removed (or renamed away and removed) since it was opened: records written
    /// now go nowhere anyone can read.
    var isUnlinked: Bool {
        var status = stat()
        return fstat(descriptor, &status) == 0 && status.st_nlink == 0
    }

    /// Cuts the file back to the size it had when opened, when it is exactly `appended` bytes longer — that is,
    /// when nothing but this appender's own `appended` bytes were added since. Returns whether it did.
    func undoAppends(_ appended: Int) -> Bool {
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG,
            Int(status.st_size) == initialSize + appended
        else { return false }
        return ftruncate(descriptor, off_t(initialSize)) == 0
    }

    /// Opens without blocking (a FIFO nobody reads fails with `ENXIO` rather than hanging), then makes writes
    /// blocking again.
    private static func open(_ path: String, _ flags: Int32) -> Int32 {
        var descriptor: Int32
        repeat {
            descriptor = Glibc.open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NONBLOCK | flags, 0o644)
        } while descriptor < 0 && errno == EINTR
        if descriptor >= 0 {
            let status = fcntl(descriptor, F_GETFL)
            if status >= 0 { _ = fcntl(descriptor, F_SETFL, status & ~O_NONBLOCK) }
        }
        return descriptor
    }

    deinit {
        close(descriptor)
    }

    /// Appends `line` and a newline; false when the write failed, `errno` telling why.
    ///
    /// A record is whole or absent: when only part of it could be written (the disk filled up), the part is cut
    /// off again, so the records after it (from this or another writer) do not run into a torn line.
    @discardableResult
    func append(_ line: String) -> Bool {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        return bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written > 0 {
                    offset += written
                    continue
                }
                let code = written == 0 ? ENOSPC : errno
                if offset > 0 { cutTornRecord(length: offset) }
                errno = code
                return false
            }
            return true
        }
    }

    /// Removes the `length` bytes of a record that was written in part, when they are still the end of the file.
    private func cutTornRecord(length: Int) {
        var status = stat()
        let end = lseek(descriptor, 0, SEEK_CUR)
        guard fstat(descriptor, &status) == 0, end >= 0, Int(status.st_size) == Int(end), Int(end) >= length else {
            return
        }
        _ = ftruncate(descriptor, off_t(Int(end) - length))
    }
}
