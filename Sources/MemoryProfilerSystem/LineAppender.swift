import Glibc

/// Appends whole lines to a file that other processes may append to at the same time (a `.dat` file).
///
/// Each line goes out in one `write` on a descriptor opened with `O_APPEND`, so lines from several writers
/// interleave but never mix.
public final class LineAppender: Sendable {
    public let path: String
    /// True when this appender created the file (it did not exist before).
    public let created: Bool
    /// The file's size when it was opened.
    public let initialSize: Int
    private let descriptor: Descriptor

    /// Opens `path` for appending, creating it. With `exclusive`, an existing file is an error (`EEXIST`): the
    /// check and the creation are one step, so two writers never share a file they both meant to create.
    ///
    /// The file is opened without blocking (a FIFO nobody reads fails with `ENXIO` rather than hanging), then
    /// writes block again.
    ///
    /// - Throws: ``SystemError`` with the C library's text only; the caller names the file.
    public init(path: String, exclusive: Bool = false) throws(SystemError) {
        let options: Descriptor.Options = [.append, .nonBlocking]
        var created = true
        var descriptor: Descriptor
        do {
            descriptor = try Descriptor.open(path, .writeOnly, options: options.union([.create, .exclusive]))
        } catch where error.errno == EEXIST && !exclusive {
            created = false
            do {
                descriptor = try Descriptor.open(path, .writeOnly, options: options)
            } catch where error.errno == ENOENT {
                // Deleted between the two calls: create it after all.
                created = true
                descriptor = try Descriptor.open(path, .writeOnly, options: options.union(.create))
            }
        }
        descriptor.setBlocking()
        self.path = path
        self.created = created
        self.descriptor = descriptor
        initialSize = (try? descriptor.status().size) ?? 0
        // A shared lock while the file is being written: `mprof rm` and `clean` take an exclusive one, and so
        // refuse to remove a recording in progress. Advisory, and only on the open file: it never blocks a write.
        _ = try? descriptor.tryLock(exclusive: false)
    }

    deinit {
        descriptor.close()
    }

    /// Whether another writer has the file open to record into it too (it holds the shared lock every appender
    /// takes): then the file is not this writer's alone to remove. Upgrading this writer's own lock to an exclusive
    /// one succeeds only when no one else holds one; it is shared again afterwards.
    public var isSharedWithAnotherWriter: Bool {
        guard (try? descriptor.tryLock(exclusive: true)) == true else { return true }
        _ = try? descriptor.tryLock(exclusive: false)
        return false
    }

    /// Claims the file as one recording's own, for as long as this appender is open: false when another
    /// recording (in any process, under any of the file's names) holds it. Other writers, such as a profiled
    /// program appending its own records, are not stopped. Only a regular file is claimed: `/dev/null`, a FIFO or a
    /// terminal is anyone's, and so is a file on a file system without such locks.
    public func claimForRecording() -> Bool {
        guard (try? descriptor.status())?.kind == .regular else { return true }
        return (try? descriptor.tryClaimByte(at: Self.recordingClaimOffset)) != false
    }

    /// The byte a recording's claim locks: past the end of any file a recording writes.
    private static let recordingClaimOffset: Int64 = 1 << 62

    /// True when the file has been removed (or renamed away and removed) since it was opened: records written
    /// now go nowhere anyone can read.
    public var isUnlinked: Bool {
        (try? descriptor.status().linkCount) == 0
    }

    /// Cuts the file back to the size it had when opened, when it is exactly `appended` bytes longer — that is,
    /// when nothing but this appender's own `appended` bytes were added since. Returns whether it did.
    public func undoAppends(_ appended: Int) -> Bool {
        guard let status = try? descriptor.status(), status.kind == .regular, status.size == initialSize + appended
        else { return false }
        return (try? descriptor.resize(to: initialSize)) != nil
    }

    /// Appends `line` and a newline.
    ///
    /// A record is whole or absent: when only part of it could be written (the disk filled up), the part is cut
    /// off again, so the records after it (from this or another writer) do not run into a torn line.
    ///
    /// - Throws: ``SystemError`` with the C library's text only (`ENOSPC`, `EFBIG`, …).
    public func append(_ line: String) throws(SystemError) {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        var written = 0
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(SystemError) in try descriptor.writeAll(buffer, written: &written) }
        }
        if case .failure(let error) = result {
            if written > 0 { cutTornRecord(length: written) }
            throw error
        }
    }

    /// Removes the `length` bytes of a record that was written in part, when they are still the end of the file.
    private func cutTornRecord(length: Int) {
        guard let status = try? descriptor.status(), let end = try? descriptor.offset(), status.size == end,
            end >= length
        else { return }
        _ = try? descriptor.resize(to: end - length)
    }
}
