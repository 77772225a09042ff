import Glibc

/// A new file under an unpredictable name, created exclusively: nothing that was at the name before, a
/// symbolic link above all, can be written through. For writing a file whole and renaming it into place.
public final class TemporaryFile {
    /// Where the file is.
    public let path: String
    /// Nil once closed.
    private var descriptor: Descriptor?

    /// Creates `.mprof-<random>.partial` in `directory` with `permissions` (less the umask).
    ///
    /// The corresponding C function is `open` with `O_CREAT | O_EXCL | O_NOFOLLOW`.
    ///
    /// - Throws: ``SystemError`` with the C library's text only.
    public init(in directory: String, permissions: UInt32) throws(SystemError) {
        let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<100 {
            let name = String((0..<16).map { _ in letters[Int(generator.next() % UInt64(letters.count))] })
            let path = "\(directory)/.mprof-\(name).partial"
            do {
                descriptor = try Descriptor.open(
                    path, .writeOnly, options: [.create, .exclusive, .noFollow], permissions: permissions)
                self.path = path
                return
            } catch where error.errno == EEXIST {
                continue
            }
        }
        throw SystemError(errno: EEXIST)
    }

    deinit {
        descriptor?.close()
    }

    /// Writes all of `bytes`.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        guard let descriptor else { throw SystemError(errno: EBADF) }
        try descriptor.writeAll(bytes)
    }

    /// Writes all of `text`, as UTF-8.
    public func write(_ text: String) throws(SystemError) {
        guard let descriptor else { throw SystemError(errno: EBADF) }
        try descriptor.writeAll(text)
    }

    /// Closes the file, reporting what the file system reports only then.
    public func close() throws(SystemError) {
        guard let descriptor else { return }
        self.descriptor = nil
        try descriptor.closeReportingFailure()
    }

    /// Sets the permission bits, whatever the umask made of them.
    public func setPermissions(_ permissions: UInt32) throws(SystemError) {
        guard let descriptor else { throw SystemError(errno: EBADF) }
        guard fchmod(descriptor.rawValue, permissions) == 0 else { throw .current }
    }

    /// Gives the file `existing`'s owner, group and permission bits: the new file replaces a file, not its
    /// access rights.
    ///
    /// - Returns: False when the owner or group cannot be given (only root may give a file away, and only
    ///   to a group the user is in).
    public func takeOwnerAndMode(of existing: FileStatus) throws(SystemError) -> Bool {
        guard let descriptor else { throw SystemError(errno: EBADF) }
        if existing.owner != geteuid() || existing.group != getegid() {
            guard fchown(descriptor.rawValue, existing.owner, existing.group) == 0 else {
                if Glibc.errno == EPERM { return false }
                throw .current
            }
        }
        try setPermissions(existing.permissions & 0o777)
        return true
    }

    /// Moves the file to `destination`, replacing what is there (in one step: a reader sees the old file or the
    /// new one). The file must be closed first, so that every write has been checked.
    public func rename(to destination: String) throws(SystemError) {
        guard descriptor == nil else { throw SystemError(message: "the file is still open", errno: EBUSY) }
        guard Glibc.rename(path, destination) == 0 else { throw .current }
    }

    /// Removes the file (once renamed, its name is another file's: call this only before).
    public func remove() {
        unlink(path)
    }
}
