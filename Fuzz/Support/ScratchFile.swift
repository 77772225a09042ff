#if canImport(Glibc)
import Glibc
#else
#error("Unsupported Platform")
#endif

/// A file that holds the current input, for readers that take a path (`MprofFile(path:)`, `mprof plot`'s JSON
/// reader), so that they read it as `mprof` does: through `open` and `read`.
///
/// The file is unlinked as soon as it is created and reached through `/proc/self/fd/N`, so no run — not even one
/// that crashes — leaves it behind. It lives in `/dev/shm` where that exists: rewriting it costs a few
/// microseconds, no disk.
struct ScratchFile: Sendable {
    /// Where scratch files go: memory-backed when possible.
    static let directory = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"

    /// A path that opens the file afresh, at offset 0.
    let path: String
    private let descriptor: Int32

    init() {
        let name = "\(Self.directory)/mprof-fuzz-\(getpid())"
        descriptor = open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { fatalError("cannot create \(name): errno \(errno)") }
        unlink(name)
        path = "/proc/self/fd/\(descriptor)"
    }

    /// Replaces the file's contents with `bytes`.
    func write(_ bytes: UnsafeRawBufferPointer) {
        guard ftruncate(descriptor, 0) == 0 else { fatalError("ftruncate: errno \(errno)") }
        var offset = 0
        while offset < bytes.count {
            guard let start = bytes.baseAddress else { return }
            let written = pwrite(descriptor, start + offset, bytes.count - offset, off_t(offset))
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { fatalError("pwrite: errno \(errno)") }
            offset += written
        }
    }
}
