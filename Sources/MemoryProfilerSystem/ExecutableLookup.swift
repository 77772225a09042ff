import Glibc

/// Finds commands on `PATH`, as a shell would.
public enum ExecutableLookup {
    public static func find(_ name: String) -> String? {
        find(Array(name.utf8)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The first executable named `name` on `PATH`, byte for byte: neither the name nor `PATH` need be UTF-8.
    public static func find(_ name: [UInt8]) -> [UInt8]? {
        let path = getenv("PATH").map { Array(UnsafeRawBufferPointer(start: $0, count: strlen($0))) }
            ?? Array("/usr/local/bin:/usr/bin:/bin".utf8)
        // An empty entry is the current directory, as in a shell; a directory of the same name is not a match.
        for directory in path.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false) {
            let candidate = (directory.isEmpty ? Array(".".utf8) : Array(directory)) + [UInt8(ascii: "/")] + name
            var status = stat()
            let found = CString.with(candidate) { stat($0, &status) == 0 && status.st_mode & S_IFMT != S_IFDIR && access($0, X_OK) == 0 }
            if found { return candidate }
        }
        return nil
    }
}

extension ExecutableLookup {
    /// The executable `name` in the directory of the file behind `command` on `PATH`, links resolved: a
    /// toolchain's tools sit together (`llvm-symbolizer` beside the `swift` that `PATH` finds).
    public static func find(_ name: String, besideCommand command: String) -> String? {
        guard let found = find(command) else { return nil }
        guard let resolved = realpath(found, nil) else { return nil }
        defer { free(resolved) }
        var directory = String(cString: resolved)
        guard let slash = directory.lastIndex(of: "/") else { return nil }
        directory = String(directory[..<slash])
        let candidate = directory + "/" + name
        return access(candidate, X_OK) == 0 ? candidate : nil
    }
}
