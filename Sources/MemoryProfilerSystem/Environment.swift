import Glibc

/// The process's environment variables, read without Foundation.
public enum Environment {
    /// The value of the variable `name`, decoded as UTF-8 (invalid bytes repaired); nil when it is not set.
    ///
    /// The corresponding C function is `getenv`.
    public static func value(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// The value of the variable `name`, byte for byte; nil when it is not set.
    public static func bytes(_ name: String) -> [UInt8]? {
        getenv(name).map { Array(UnsafeRawBufferPointer(start: $0, count: strlen($0))) }
    }
}
