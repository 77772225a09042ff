#if os(Linux)
import Glibc

/// Names in the file system: what is there, what may be run, and the one way a file is removed.
public enum FileSystem {
    /// Removes `path` if it is a regular file (a symbolic link is not followed, and nothing else is ever removed);
    /// false when it is not one or could not be removed.
    @discardableResult
    public static func removeRegularFile(_ path: String) -> Bool {
        guard (try? FileStatus(path: path, followingLinks: false))?.kind == .regular else { return false }
        return unlink(path) == 0
    }

    /// Removes the name `path` (`unlink`; a symbolic link itself, not its target): for a name the caller has just
    /// checked is one it may remove.
    public static func removeName(_ path: String) throws(SystemError) {
        guard unlink(path) == 0 else { throw .current }
    }

    /// Whether `path` is a regular file this process may run (`access(X_OK)`).
    public static func isExecutableFile(_ path: [UInt8]) -> Bool {
        guard (try? FileStatus(path: path))?.kind == .regular else { return false }
        return CString.with(path) { access($0, X_OK) } == 0
    }

    /// Whether this process may write to `path` as `>` would, by its effective IDs (`faccessat(W_OK, AT_EACCESS)`).
    /// - Throws: ``SystemError`` with the reason it may not.
    public static func checkWritable(_ path: String) throws(SystemError) {
        guard faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) == 0 else { throw .current }
    }

    /// Whether this process may run `path` (`access(X_OK)`), whatever it is.
    public static func mayExecute(_ path: [UInt8]) -> Bool {
        CString.with(path) { access($0, X_OK) } == 0
    }

    /// The working directory as bytes (its name need not be UTF-8); nil when it cannot be told (removed, or
    /// longer than `PATH_MAX`).
    public static func currentDirectory() -> [UInt8]? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return nil }
        return buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    }

    /// The running executable's path, links resolved (`/proc/self/exe`); nil when it cannot be read.
    public static func ownExecutable() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, Int(PATH_MAX))
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// The process's command line as the bytes it was given: Swift's `CommandLine.arguments` replaces bytes that are not
/// UTF-8, and a program passed on must receive its arguments unchanged.
public enum RawArguments {
    /// The arguments, the program's name first.
    public static var all: [[UInt8]] {
        (0..<Int(CommandLine.argc)).map { index in
            guard let argument = CommandLine.unsafeArgv[index] else { return [] }
            return Array(UnsafeRawBufferPointer(start: argument, count: strlen(argument)))
        }
    }
}
#endif
